/** Positions in an inventory report, and the checkpoint cursor that stands for one. */
import { InventoryError } from './source';

/** Where a row is: file index in manifest.files, data record index in that file (0-based). */
export interface InventoryPosition {
  fileIndex: number;
  record: number;
}

/** Data files [from, to) of a manifest, by index. */
export interface FileRange {
  from: number;
  to: number;
}

/** A resumable cursor string for the engine's checkpoint; sorts like positions. */
export function inventoryCursor(p: InventoryPosition): string {
  return `${String(p.fileIndex).padStart(6, '0')}:${String(p.record).padStart(12, '0')}`;
}

export function parseInventoryCursor(cursor: string): InventoryPosition {
  const m = /^(\d{1,9}):(\d{1,15})$/.exec(cursor);
  if (!m) throw new InventoryError(`not an inventory cursor: ${JSON.stringify(cursor.slice(0, 40))}`);
  return { fileIndex: Number(m[1]), record: Number(m[2]) };
}
