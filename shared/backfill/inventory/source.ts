/** Where an inventory report's bytes come from, and the one error every problem with a report is. */
import type { OssPort } from '../../oss/port';

/** Every problem with a report: `file` and `line` (1-based) say where, when known. */
export class InventoryError extends Error {
  override readonly name: string = 'InventoryError';
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** An object body: a byte stream (an HTTP response, a Readable) or bytes already in memory. */
export type InventoryBody = AsyncIterable<Uint8Array> | Uint8Array;

/** What the reader needs from OSS: GetObject of a whole object, as a byte stream. */
export interface InventorySource {
  getObject(bucket: string, key: string): Promise<InventoryBody>;
}

/** InventorySource over OssPort.getObjectStream: data files are streamed, never held whole. */
export function ossInventorySource(oss: Pick<OssPort, 'getObjectStream'>): InventorySource {
  return { getObject: async (bucket, key) => (await oss.getObjectStream(bucket, key)).body };
}

/** A whole (small) body in memory, refused past `limit` bytes; `where` names it in the error. */
export async function readAll(body: InventoryBody, limit: number, where: string): Promise<Uint8Array> {
  if (body instanceof Uint8Array) {
    if (body.length > limit) throw new InventoryError(`${where} is larger than ${limit} bytes`);
    return body;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new InventoryError(`${where} is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
