/**
 * The encryption posture report (`oss-sse report`): schema.ts (report.json, exported for
 * readers), gather.ts (one bucket from a listing, a sample or an inventory), build.ts (every
 * bucket, the summary, the change), interval.ts (the sample's draw and interval), tally.ts
 * (counters), render-md.ts and render-html.ts (with charts.ts).
 */
export * from './schema';
export * from './build';
export * from './gather';
export { renderMarkdown } from './render-md';
export { renderHtml } from './render-html';
