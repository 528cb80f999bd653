/** Starts the local OSS server in memory and builds real ali-oss clients against it. */
import OSS from 'ali-oss';
import { startOssServer, type OssServer, type OssServerOptions } from '../../local/oss/server';
import { OssHttpClient } from '../../shared/oss/http-client';

export const TEST_AK = 'LTAI5tTestAccessKeyId';
export const TEST_SECRET = 'TestSecretKeyThatMustNeverBeLogged0001';

export interface ClientOptions {
  bucket?: string;
  v4?: boolean;
  stsToken?: string;
  accessKeySecret?: string;
  accessKeyId?: string;
}

/**
 * The real ali-oss client, typed loosely on purpose: @types/ali-oss lacks the bucket
 * encryption/versioning methods and types response headers as `object`, and the tests
 * assert every value they read at run time. That is why this one type is `any`.
 */
export type OssTestClient = any;

export interface TestOss {
  server: OssServer;
  client(opts?: ClientOptions): OssTestClient;
  /** The project's own OssHttpClient with the test credentials (closed with the server). */
  httpClient(): OssHttpClient;
  close(): Promise<void>;
}

export async function startTestOss(options: Partial<OssServerOptions> = {}): Promise<TestOss> {
  const server = await startOssServer({
    credentials: { [TEST_AK]: TEST_SECRET },
    storage: { kind: 'memory' },
    ...options,
  });
  const clients: OssHttpClient[] = [];
  return {
    server,
    client(opts: ClientOptions = {}): OssTestClient {
      return new OSS({
        accessKeyId: opts.accessKeyId ?? TEST_AK,
        accessKeySecret: opts.accessKeySecret ?? TEST_SECRET,
        ...(opts.stsToken
          ? {
              stsToken: opts.stsToken,
              refreshSTSToken: async () => ({
                accessKeyId: opts.accessKeyId ?? TEST_AK,
                accessKeySecret: opts.accessKeySecret ?? TEST_SECRET,
                stsToken: opts.stsToken as string,
              }),
            }
          : {}),
        ...(opts.bucket ? { bucket: opts.bucket } : {}),
        region: `oss-${server.region}`,
        endpoint: server.url,
        ...(opts.v4 ? { authorizationV4: true } : {}),
        timeout: 30_000,
      } as OSS.Options);
    },
    httpClient(): OssHttpClient {
      const c = new OssHttpClient({
        endpoint: server.url,
        region: server.region,
        credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
      });
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients.splice(0)) c.destroy();
      await server.close();
    },
  };
}

/** The local OSS server and the project's client against it (closed with the server): most integration files start with both. */
export async function startTestOssWithClient(options: Partial<OssServerOptions> = {}): Promise<{ t: TestOss; oss: OssHttpClient }> {
  const t = await startTestOss(options);
  return { t, oss: t.httpClient() };
}
