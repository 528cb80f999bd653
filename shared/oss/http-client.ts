/**
 * OssPort over plain node:http / node:https with our own signing (shared/signing): each
 * method is its row of the operation table (operations.ts) sent through the one exchange
 * (transport.ts), its answer parsed by responses.ts.
 *
 * Why not ali-oss: its copy() re-sends every header as `x-oss-copy-source-<name>`, its
 * putBucketEncryption cannot send KMSDataEncryption, and listV2 does not decode keys.
 * See docs/oss-behaviour.md#ali-oss-quirks.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Credentials } from '../signing';
import { copySourceHeader, lowerCased } from './encoding';
import { normalizeRegion, resolveOssEndpoint, type OssEndpoint } from './endpoint';
import { header, type Reply } from './failures';
import { OSS_OPERATIONS as OPS } from './operations';
import {
  OssRequestError,
  type CompletedPart,
  type CopyObjectArgs,
  type InventoryConfiguration,
  type ListPage,
  type ObjectHead,
  type ObjectStream,
  type OssPort,
  type SseSpec,
  type UploadPartCopyArgs,
  type WriteResult,
} from './port';
import {
  parseBucketEncryption,
  parseHead,
  parseListBuckets,
  parseListObjects,
  parseObjectAcl,
  parseTagging,
  parseUploadId,
  parseVersioning,
  parseInventoryConfigurations,
  resultEtag,
  versionQuery,
  writeResult,
} from './responses';
import { OssTransport, type OssRequestInfo, type OssRetrySettings } from './transport';
import { toXml } from './xml';

export interface OssHttpClientOptions {
  /** OSS_ENDPOINT: URL or host[:port]; default the region's (internal) endpoint. */
  endpoint?: string;
  region: string;
  /** Use `oss-<region>-internal.aliyuncs.com` by default (inside Function Compute). */
  internal?: boolean;
  /** Read before every attempt: STS credentials rotate. */
  credentials: () => Credentials;
  /** Default v4. */
  signatureVersion?: 'v4' | 'v1';
  /** Per attempt, from dispatch to the last response byte. Default 60 s. */
  timeoutMs?: number;
  /** Keep-alive sockets per host: requests beyond it wait for a free socket. Default DEFAULT_MAX_SOCKETS. */
  maxSockets?: number;
  retry?: OssRetrySettings;
  /** Called after every attempt, successful or not. */
  onRequest?: (info: OssRequestInfo) => void;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/**
 * As many sockets as a backfill under a QPS cap can have objects in flight
 * (MAX_OBJECTS_IN_FLIGHT_UNDER_CAP, each with one request out at a time): one process then
 * drives up to 1024 ÷ latency requests a second (25,600/s at 40 ms), above the account's
 * 10,000 QPS. 128 capped it at 3,200/s at 40 ms, below a 5,000-QPS job. Sockets open only on
 * demand, so a run with 64 objects in flight, or a function, opens no more than it uses.
 */
export const DEFAULT_MAX_SOCKETS = 1024;

export class OssHttpClient implements OssPort {
  readonly endpoint: OssEndpoint;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private readonly transport: OssTransport;

  /** `agents`: connections shared with another client (see withDeadline). */
  constructor(
    private readonly options: OssHttpClientOptions,
    agents?: { http: HttpAgent; https: HttpsAgent },
  ) {
    const region = normalizeRegion(options.region);
    this.endpoint = resolveOssEndpoint({
      region,
      internal: options.internal ?? false,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    });
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.httpAgent = agents?.http ?? new HttpAgent({ keepAlive: true, maxSockets });
    this.httpsAgent = agents?.https ?? new HttpsAgent({ keepAlive: true, maxSockets });
    this.transport = new OssTransport({
      endpoint: this.endpoint,
      region,
      version: options.signatureVersion ?? 'v4',
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      credentials: options.credentials,
      agents: { http: this.httpAgent, https: this.httpsAgent },
      retry: options.retry ?? {},
      ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }),
    });
  }

  /**
   * This client's connections and settings with another retry deadline and a request count of
   * its own: one per invocation when an instance serves several at once.
   */
  withDeadline(deadline: number): OssHttpClient {
    return new OssHttpClient(
      { ...this.options, retry: { ...this.options.retry, deadline: () => deadline } },
      { http: this.httpAgent, https: this.httpsAgent },
    );
  }

  /** HTTP requests dispatched so far, retries included. */
  get requestCount(): number {
    return this.transport.requestCount;
  }

  /** Closes the keep-alive sockets. The client can still be used afterwards (new sockets). */
  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // ---- objects ----

  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined> {
    let r: Reply;
    try {
      r = await this.transport.call({ operation: OPS.headObject, bucket, key, query: versionQuery(versionId) });
    } catch (e) {
      // 404 NoSuchBucket is an error; a missing object or version is an answer.
      if (
        e instanceof OssRequestError &&
        e.status === 404 &&
        (e.code === 'NoSuchKey' || e.code === 'NoSuchVersion' || e.code === 'UnknownError')
      ) {
        return undefined;
      }
      throw e;
    }
    return parseHead(bucket, key, r);
  }

  async getObjectAcl(bucket: string, key: string, versionId?: string): Promise<string> {
    return parseObjectAcl(await this.transport.call({ operation: OPS.getObjectAcl, bucket, key, query: versionQuery(versionId) }));
  }

  async getObjectTagging(bucket: string, key: string, versionId?: string): Promise<Array<[string, string]>> {
    return parseTagging(await this.transport.call({ operation: OPS.getObjectTagging, bucket, key, query: versionQuery(versionId) }));
  }

  async copyObject(args: CopyObjectArgs): Promise<WriteResult> {
    const r = await this.transport.call({
      operation: OPS.copyObject,
      bucket: args.bucket,
      key: args.key,
      headers: {
        ...lowerCased(args.headers),
        'x-oss-copy-source': copySourceHeader(args.sourceBucket, args.sourceKey, args.sourceVersionId),
      },
    });
    return writeResult(resultEtag(OPS.copyObject.op, r, 'CopyObjectResult'), r);
  }

  async initiateMultipartUpload(
    bucket: string,
    key: string,
    headers: Record<string, string>,
  ): Promise<{ uploadId: string; requestId?: string }> {
    const r = await this.transport.call({
      operation: OPS.initiateMultipartUpload,
      bucket,
      key,
      // encoding-type=url: the echoed <Key> may hold characters XML 1.0 cannot carry.
      query: { 'encoding-type': 'url' },
      headers: lowerCased(headers),
    });
    const uploadId = parseUploadId(r);
    return r.requestId === undefined ? { uploadId } : { uploadId, requestId: r.requestId };
  }

  async uploadPartCopy(args: UploadPartCopyArgs): Promise<CompletedPart> {
    const [first, last] = args.range;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first) {
      throw new RangeError(`uploadPartCopy: invalid byte range [${first}, ${last}]`);
    }
    if (!Number.isInteger(args.partNumber) || args.partNumber < 1 || args.partNumber > 10_000) {
      throw new RangeError(`uploadPartCopy: part number ${args.partNumber} is outside 1..10000`);
    }
    const r = await this.transport.call({
      operation: OPS.uploadPartCopy,
      bucket: args.bucket,
      key: args.key,
      query: { partNumber: String(args.partNumber), uploadId: args.uploadId },
      headers: {
        'x-oss-copy-source': copySourceHeader(args.sourceBucket, args.sourceKey, args.sourceVersionId),
        'x-oss-copy-source-range': `bytes=${first}-${last}`,
        'x-oss-copy-source-if-match': args.ifMatch,
      },
    });
    return { partNumber: args.partNumber, etag: resultEtag(OPS.uploadPartCopy.op, r, 'CopyPartResult') };
  }

  async completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: CompletedPart[]): Promise<WriteResult> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const r = await this.transport.call({
      operation: OPS.completeMultipartUpload,
      bucket,
      key,
      query: { uploadId, 'encoding-type': 'url' },
      body: toXml('CompleteMultipartUpload', { Part: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) }),
    });
    return writeResult(resultEtag(OPS.completeMultipartUpload.op, r, 'CompleteMultipartUploadResult'), r);
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.transport.call({ operation: OPS.abortMultipartUpload, bucket, key, query: { uploadId } });
  }

  async deleteObject(bucket: string, key: string, versionId?: string): Promise<void> {
    await this.transport.call({ operation: OPS.deleteObject, bucket, key, query: versionQuery(versionId) });
  }

  async putObject(bucket: string, key: string, body: Buffer, headers: Record<string, string> = {}): Promise<WriteResult> {
    const r = await this.transport.call({ operation: OPS.putObject, bucket, key, headers: lowerCased(headers), body });
    const etag = header(r.headers, 'etag');
    if (etag === undefined) throw new Error('OSS PutObject: the response has no ETag');
    return writeResult(etag, r);
  }

  async getObject(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      return (await this.transport.call({ operation: OPS.getObject, bucket, key })).body;
    } catch (e) {
      if (e instanceof OssRequestError && e.status === 404 && e.code === 'NoSuchKey') return undefined;
      throw e;
    }
  }

  /** See OssPort.getObjectStream: retried until the headers arrive, then handed out chunk by chunk. */
  getObjectStream(bucket: string, key: string, opts: { idleTimeoutMs?: number } = {}): Promise<ObjectStream> {
    return this.transport.stream({ operation: OPS.getObjectStream, bucket, key }, opts);
  }

  async listObjectsV2(
    bucket: string,
    opts: { prefix?: string; startAfter?: string; continuationToken?: string; maxKeys?: number; delimiter?: string },
  ): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url' };
    if (opts.prefix !== undefined && opts.prefix !== '') query.prefix = opts.prefix;
    if (opts.startAfter !== undefined && opts.startAfter !== '') query['start-after'] = opts.startAfter;
    if (opts.continuationToken !== undefined) query['continuation-token'] = opts.continuationToken;
    if (opts.maxKeys !== undefined) query['max-keys'] = String(opts.maxKeys);
    if (opts.delimiter !== undefined && opts.delimiter !== '') query.delimiter = opts.delimiter;
    return parseListObjects(await this.transport.call({ operation: OPS.listObjectsV2, bucket, query }));
  }

  // ---- service and buckets ----

  async listBuckets(opts: { marker?: string; maxKeys?: number; prefix?: string }): Promise<{ buckets: string[]; nextMarker?: string }> {
    const query: Record<string, string> = {};
    if (opts.prefix !== undefined && opts.prefix !== '') query.prefix = opts.prefix;
    if (opts.marker !== undefined && opts.marker !== '') query.marker = opts.marker;
    if (opts.maxKeys !== undefined) query['max-keys'] = String(opts.maxKeys);
    return parseListBuckets(await this.transport.call({ operation: OPS.listBuckets, query }));
  }

  async getBucketEncryption(bucket: string): Promise<SseSpec | undefined> {
    let r: Reply;
    try {
      r = await this.transport.call({ operation: OPS.getBucketEncryption, bucket });
    } catch (e) {
      if (e instanceof OssRequestError && e.status === 404 && e.code === 'NoSuchServerSideEncryptionRule') return undefined;
      throw e;
    }
    return parseBucketEncryption(r);
  }

  async putBucketEncryption(bucket: string, rule: SseSpec): Promise<void> {
    const apply: Record<string, string> = { SSEAlgorithm: rule.algorithm };
    if (rule.keyId !== undefined && rule.keyId !== '') apply.KMSMasterKeyID = rule.keyId;
    if (rule.dataEncryption !== undefined) apply.KMSDataEncryption = rule.dataEncryption;
    await this.transport.call({
      operation: OPS.putBucketEncryption,
      bucket,
      body: toXml('ServerSideEncryptionRule', { ApplyServerSideEncryptionByDefault: apply }),
    });
  }

  async deleteBucketEncryption(bucket: string): Promise<void> {
    await this.transport.call({ operation: OPS.deleteBucketEncryption, bucket });
  }

  async getBucketVersioning(bucket: string): Promise<'Enabled' | 'Suspended' | undefined> {
    return parseVersioning(await this.transport.call({ operation: OPS.getBucketVersioning, bucket }));
  }

  async listBucketInventory(
    bucket: string,
    opts: { continuationToken?: string } = {},
  ): Promise<{ configurations: InventoryConfiguration[]; nextContinuationToken?: string }> {
    const query: Record<string, string> = opts.continuationToken ? { 'continuation-token': opts.continuationToken } : {};
    return parseInventoryConfigurations(await this.transport.call({ operation: OPS.listBucketInventory, bucket, query }));
  }
}
