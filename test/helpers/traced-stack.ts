/**
 * The local KMS and OSS servers wired together, and the project's OssHttpClient against them,
 * with every request the server accepted and every attempt the client made recorded: the
 * set-up of the function tests, which assert on both.
 */
import { startKmsServer, type KmsServer } from '../../local/kms/server';
import { OssHttpClient } from '../../shared/oss/http-client';
import type { OssRequestInfo } from '../../shared/oss/transport';
import type { OssRequest } from '../../shared/signing';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from './oss';

export const TRACED_REGION = 'cn-hangzhou';
export const TRACED_ACCOUNT = '1234567890123456';

export interface Trace<T> {
  result: T;
  /** How the test describes each request the server accepted meanwhile (e.g. "Op key"). */
  server: string[];
  /** Attempts our client made meanwhile. */
  client: OssRequestInfo[];
}

export interface TracedStack {
  kms: KmsServer;
  t: TestOss;
  /** OssHttpClient with the test credentials; its attempts land in `sent`. */
  oss: OssHttpClient;
  /** Every request the OSS server accepted (signature verified), in order. */
  seen: Array<OssRequest & { requestId: string }>;
  /** Every attempt `oss` made, in order. */
  sent: OssRequestInfo[];
  /** Runs fn and returns what the server saw (each request as `describe` puts it) and what our client sent meanwhile. */
  traced<T>(fn: () => Promise<T>, describe: (r: OssRequest) => string): Promise<Trace<T>>;
  close(): Promise<void>;
}

export async function startTracedStack(): Promise<TracedStack> {
  const kms = await startKmsServer({ region: TRACED_REGION, accountId: TRACED_ACCOUNT, credentials: { [TEST_AK]: TEST_SECRET } });
  const seen: TracedStack['seen'] = [];
  const sent: OssRequestInfo[] = [];
  const t = await startTestOss({
    region: TRACED_REGION,
    accountId: TRACED_ACCOUNT,
    kms: kms.keys,
    onRequest: (req, requestId) => seen.push({ ...req, headers: { ...req.headers }, requestId }),
  });
  const oss = new OssHttpClient({
    endpoint: t.server.url,
    region: TRACED_REGION,
    credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    onRequest: (info) => sent.push(info),
  });
  return {
    kms,
    t,
    oss,
    seen,
    sent,
    async traced(fn, describe) {
      const fromSeen = seen.length;
      const fromSent = sent.length;
      const result = await fn();
      return { result, server: seen.slice(fromSeen).map(describe), client: sent.slice(fromSent) };
    },
    close: async () => {
      oss.destroy();
      await t.close();
      await kms.close();
    },
  };
}

/** The OSS operation a request the server accepted is (as the tests name them in traces). */
export function ossOperationOf(r: OssRequest): string {
  const has = (k: string) => r.query[k] !== undefined;
  const copy = r.headers['x-oss-copy-source'] !== undefined;
  switch (r.method) {
    case 'HEAD':
      return 'HeadObject';
    case 'GET':
      if (has('acl')) return 'GetObjectAcl';
      if (has('tagging')) return 'GetObjectTagging';
      return r.key === undefined ? 'ListObjects' : 'GetObject';
    case 'PUT':
      if (copy && has('uploadId')) return 'UploadPartCopy';
      if (copy) return 'CopyObject';
      if (has('uploadId')) return 'UploadPart';
      return 'PutObject';
    case 'POST':
      if (has('uploads')) return 'InitiateMultipartUpload';
      if (has('uploadId')) return 'CompleteMultipartUpload';
      if (has('append')) return 'AppendObject';
      return 'POST';
    case 'DELETE':
      return has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return r.method;
  }
}
