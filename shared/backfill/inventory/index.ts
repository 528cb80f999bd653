/**
 * OSS bucket inventory reports as a stream of work items for the backfill: the manifest
 * (manifest.ts), rows of the gzipped CSV data files (rows.ts), the streaming reader
 * (reader.ts), checkpoint cursors (cursor.ts) and the engine's items (items.ts).
 */
export * from './source';
export * from './cursor';
export * from './manifest';
export * from './rows';
export * from './reader';
export * from './items';
export * from './report-copy';
