/**
 * The local stack: the servers `oss-sse local` and the tests run on loopback. For now the
 * OSS-compatible server; the KMS and Function Compute servers join it in later issues.
 */
import { startOssServer, type OssServer } from './oss/server';

export interface LocalStackOptions {
  ossPort: number;
  region: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Directory for buckets, objects and metadata; undefined keeps everything in memory. */
  dataDir?: string;
  log?: (line: string) => void;
}

export interface LocalStack {
  oss: OssServer;
  /** The one JSON line `oss-sse local` prints once every server listens (DESIGN.md contract). */
  readyLine(): string;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const oss = await startOssServer({
    port: options.ossPort,
    region: options.region,
    credentials: { [options.accessKeyId]: options.accessKeySecret },
    storage: options.dataDir === undefined ? { kind: 'memory' } : { kind: 'disk', dir: options.dataDir },
    log: options.log,
  });
  return {
    oss,
    readyLine: () =>
      JSON.stringify({
        ready: true,
        oss: oss.url,
        region: options.region,
        accessKeyId: options.accessKeyId,
        accessKeySecret: options.accessKeySecret,
      }),
    close: () => oss.close(),
  };
}
