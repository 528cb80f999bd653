/**
 * The oss-sse version, from package.json. A named import: esbuild keeps only this field of
 * the JSON in each bundle.
 */
import { version } from '../package.json';

export const OSS_SSE_VERSION: string = version;
