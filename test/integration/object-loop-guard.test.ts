/**
 * The object function's guard against re-copying its own multipart copy when that copy did
 * not verify: the CompleteMultipartUpload event our copy fires must not start another copy.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OssEventRecord } from '../../local/oss/events';
import { memoryLogger } from '../../shared/log';
import { handleObjectEvent } from '../../shared/object-encryption';
import { OssHttpClient } from '../../shared/oss/http-client';
import type { OssPort } from '../../shared/oss/port';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { startTestOssWithClient, type TestOss } from '../helpers/oss';

let t: TestOss;
let oss: OssHttpClient;
beforeAll(async () => ({ t, oss } = await startTestOssWithClient()));
afterAll(async () => t.close());

it('a copy that did not verify is not copied again when its own CompleteMultipartUpload event arrives', async () => {
  const c = t.client({ bucket: 'loop' });
  await c.putBucket('loop');
  await c.put('big.bin', Buffer.alloc(250 * 1024, 3));
  const policy = policyFromConfig(loadConfig({ MULTIPART_THRESHOLD_BYTES: String(100 * 1024), PART_SIZE_BYTES: String(100 * 1024) }));
  // An OSS that forgets the encryption on Complete's answer and on HEAD after our copy: verification must fail.
  let copied = false;
  const lying: OssPort = new Proxy(oss, {
    get(target, prop, receiver) {
      if (prop === 'completeMultipartUpload') {
        return async (...args: Parameters<OssPort['completeMultipartUpload']>) => {
          copied = true;
          return { ...(await target.completeMultipartUpload(...args)), sse: undefined };
        };
      }
      if (prop === 'headObject') {
        return async (...args: Parameters<OssPort['headObject']>) => {
          const h = await target.headObject(...args);
          return h && copied ? { ...h, sse: undefined } : h;
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  const own: OssEventRecord[] = [];
  const listener = (e: { events: OssEventRecord[] }) =>
    own.push(...e.events.filter((r) => r.eventName === 'ObjectCreated:CompleteMultipartUpload'));
  t.server.events.on('object', listener);
  const firstRun = await handleObjectEvent(
    {
      events: [
        {
          eventName: 'ObjectCreated:PutObject',
          eventSource: 'acs:oss',
          eventTime: new Date().toISOString(),
          eventVersion: '1.0',
          region: 'cn-hangzhou',
          oss: {
            bucket: { name: 'loop', arn: 'acs:oss:cn-hangzhou:1:loop', ownerIdentity: '1' },
            object: { key: 'big.bin', size: 256000, eTag: 'X' },
            ossSchemaVersion: '1.0',
            ruleId: 'r',
          },
        },
      ],
    },
    { oss: lying, policy, log: memoryLogger() },
  );
  t.server.events.off('object', listener);
  expect(firstRun.records[0]).toMatchObject({ action: 'failed', reason: 'verification-failed' });
  expect(own).toHaveLength(1);
  // Our own copy's event: ignored, and no request at all.
  const before = oss.requestCount;
  const log = memoryLogger();
  const again = await handleObjectEvent({ events: own }, { oss, policy, log });
  expect(again.records[0]).toMatchObject({ action: 'ignored' });
  expect(oss.requestCount).toBe(before);
  expect(log.lines.join('\n')).toContain('did not verify');
});
