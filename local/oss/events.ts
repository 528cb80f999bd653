/**
 * Events the local OSS server publishes after successful writes, shaped like the ones
 * Function Compute and EventBridge deliver, for in-process subscribers (the local runtime
 * wires them to the functions). See docs/oss-behaviour.md#oss-trigger-events and
 * docs/oss-behaviour.md#bucket-creation-events.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';

/** One record of an OSS trigger event (`events[]` element). */
export interface OssEventRecord {
  eventName: string; // e.g. ObjectCreated:PutObject (no oss: prefix in the payload)
  eventSource: 'acs:oss';
  eventTime: string;
  eventVersion: '1.0';
  oss: {
    bucket: { arn: string; name: string; ownerIdentity: string; virtualBucket: string };
    object: { deltaSize: number; eTag: string; key: string; size: number; objectMeta?: { mimeType: string } };
    ossSchemaVersion: '1.0';
    ruleId: string;
  };
  region: string;
  requestParameters: { sourceIPAddress: string };
  responseElements: { requestId: string };
  userIdentity: { principalId: string };
}

export interface OssTriggerEvent {
  events: OssEventRecord[];
}

/** CloudEvents envelope as EventBridge delivers it. */
export interface CloudEvent<T> {
  id: string;
  source: string;
  specversion: '1.0';
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json;charset=utf-8';
  aliyunaccountid: string;
  aliyunpublishtime: string;
  aliyuneventbusname: string;
  aliyunregionid: string;
  data: T;
}

export interface OssEventMap {
  /** Object created/removed: the trigger payload FC hands an OSS-triggered function. */
  object: [OssTriggerEvent];
  /** Bucket-level events (BucketCreated, ActionTrail API calls) in EventBridge form. */
  bucket: [CloudEvent<Record<string, unknown>>];
}

export class OssEvents extends EventEmitter<OssEventMap> {
  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {
    super();
  }

  objectEvent(args: {
    name: string;
    bucket: string;
    key: string;
    etag: string; // quoted or not; the event carries it unquoted upper-case
    size: number;
    deltaSize: number;
    contentType?: string;
    requestId: string;
    sourceIp: string;
  }): void {
    if (this.listenerCount('object') === 0) return;
    const record: OssEventRecord = {
      eventName: args.name,
      eventSource: 'acs:oss',
      eventTime: new Date().toISOString(),
      eventVersion: '1.0',
      oss: {
        bucket: {
          arn: `acs:oss:${this.region}:${this.accountId}:${args.bucket}`,
          name: args.bucket,
          ownerIdentity: this.accountId,
          virtualBucket: '',
        },
        object: {
          deltaSize: args.deltaSize,
          eTag: args.etag.replace(/"/g, '').toUpperCase(),
          key: args.key,
          size: args.size,
          ...(args.contentType ? { objectMeta: { mimeType: args.contentType } } : {}),
        },
        ossSchemaVersion: '1.0',
        ruleId: 'oss-sse-local',
      },
      region: this.region,
      requestParameters: { sourceIPAddress: args.sourceIp },
      responseElements: { requestId: args.requestId },
      userIdentity: { principalId: this.accountId },
    };
    this.emit('object', { events: [record] });
  }

  /** `type` like oss:BucketCreated:PutBucket or acs.oss:ActionTrail:ApiCall. */
  bucketEvent(type: string, source: string, bucket: string, data: Record<string, unknown>): void {
    if (this.listenerCount('bucket') === 0) return;
    const now = new Date().toISOString();
    this.emit('bucket', {
      id: randomUUID(),
      source,
      specversion: '1.0',
      type,
      subject: `acs:oss:${this.region}:${this.accountId}:${bucket}`,
      time: now,
      datacontenttype: 'application/json;charset=utf-8',
      aliyunaccountid: this.accountId,
      aliyunpublishtime: now,
      aliyuneventbusname: 'default',
      aliyunregionid: this.region,
      data,
    });
  }
}
