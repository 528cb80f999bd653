/**
 * The local OSS-compatible server: a loopback HTTP server that the unmodified ali-oss client
 * (V1 or V4 signing, with or without an STS token) talks to as if it were OSS. This module
 * parses, authenticates and routes; the handlers own each API's semantics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenLoopback } from '../listen';
import { randomBytes } from 'node:crypto';
import { signingView, type OssRequest } from '../../shared/signing';
import { parseOssRequest, verifyOssRequest } from './verify';
import * as bucketApi from './bucket';
import * as inventoryApi from './inventory';
import type { KmsKeyLookup, ObjectContext, RequestContext, ServerSettings } from './context';
import { NotModified } from './copy-source';
import { errorXml, Errors, OssError } from './errors';
import { OssEvents } from './events';
import { FaultInjector, type Answered, type FaultOptions } from './faults';
import * as listApi from './list';
import * as multipartApi from './multipart';
import * as objectApi from './object';
import { authorizeOssRequest, ossAuthorizer } from './ram';
import type { RamAuthority } from '../ram/authority';
import { Store, type StorageOptions } from './store';

export interface OssServerOptions {
  host?: string;
  port?: number;
  region?: string;
  accountId?: string;
  /** Access keys the server accepts: id → secret. */
  credentials: Record<string, string>;
  storage: StorageOptions;
  /** One line per request (method, path, status, ms); never credentials. */
  log?: (line: string) => void;
  settings?: Partial<ServerSettings>;
  /** Check SSE-KMS key ids against this KMS (e.g. the local KMS server's `keys`); see KmsKeyLookup. */
  kms?: KmsKeyLookup;
  /**
   * Observer called with every request that passed signature verification, before it is
   * handled: lets tests assert exactly which headers a client sent.
   */
  onRequest?: (req: OssRequest, requestId: string) => void;
  /** Injected latency, faults and a QPS limit (see faults.ts); none when absent. */
  faults?: FaultOptions;
  /** RAM policies bound to access keys (local/ram/authority.ts); without it every verified request is allowed. */
  ram?: RamAuthority;
}

export interface OssServer {
  url: string;
  port: number;
  region: string;
  events: OssEvents;
  store: Store;
  /** The fault injector, when `faults` was given: its stats and journal show what was injected. */
  faults?: FaultInjector;
  /** The settings in force; tests may change them between requests (e.g. selfCopyMetadata). */
  settings: ServerSettings;
  close(): Promise<void>;
}

type Handler = (ctx: RequestContext) => Promise<void>;
type ObjectHandler = (ctx: ObjectContext) => Promise<void>;

/**
 * Sub-resources the server implements. A request carrying any other OSS sub-resource gets
 * 400 NotImplemented rather than being mistaken for a plain GET/PUT (which could, e.g.,
 * overwrite an object with a lifecycle document).
 */
const KNOWN_SUBRESOURCES = new Set([
  'acl',
  'objectMeta',
  'append',
  'bucketInfo',
  'delete',
  'encryption',
  'inventory',
  'inventoryId',
  'location',
  'partNumber',
  'position',
  'restore',
  'symlink',
  'tagging',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'continuation-token',
  'response-content-type',
  'response-content-language',
  'response-expires',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
]);
const OTHER_OSS_SUBRESOURCES = new Set([
  'lifecycle',
  'cors',
  'website',
  'referer',
  'logging',
  'policy',
  'replication',
  'qos',
  'worm',
  'wormId',
  'wormExtend',
  'objectMeta',
  'callback',
  'callback-var',
  'x-oss-process',
  'process',
  'live',
  'img',
  'cname',
  'requestPayment',
  'transferAcceleration',
  'stat',
  'comp',
  'vod',
  'startTime',
  'endTime',
  'resourceGroup',
  'style',
  'styleName',
  'regionList',
  'accessMonitor',
  'x-oss-ac-source-ip',
]);

function route(o: OssRequest & { bucket: string }): Handler | undefined {
  const q = o.query;
  const has = (k: string) => q[k] !== undefined;
  if (o.key === undefined) {
    switch (o.method) {
      case 'PUT':
        if (has('encryption')) return bucketApi.putBucketEncryption;
        if (has('versioning')) return bucketApi.putBucketVersioning;
        if (has('acl')) return bucketApi.putBucketAcl;
        if (has('inventory')) return inventoryApi.putBucketInventory;
        return bucketApi.putBucket;
      case 'GET':
        if (has('encryption')) return bucketApi.getBucketEncryption;
        if (has('versioning')) return bucketApi.getBucketVersioning;
        if (has('bucketInfo')) return bucketApi.getBucketInfo;
        if (has('location')) return bucketApi.getBucketLocation;
        if (has('acl')) return bucketApi.getBucketAcl;
        if (has('inventory')) return has('inventoryId') ? inventoryApi.getBucketInventory : inventoryApi.listBucketInventory;
        if (has('versions')) return listApi.listObjectVersions;
        if (has('uploads')) return multipartApi.listMultipartUploads;
        if (q['list-type'] === '2') return listApi.listObjectsV2;
        return listApi.listObjects;
      case 'DELETE':
        if (has('encryption')) return bucketApi.deleteBucketEncryption;
        if (has('inventory')) return inventoryApi.deleteBucketInventory;
        return bucketApi.deleteBucket;
      case 'POST':
        if (has('delete')) return objectApi.deleteMultipleObjects;
        return undefined;
      default:
        return undefined;
    }
  }
  const obj = (h: ObjectHandler): Handler => h as Handler;
  switch (o.method) {
    case 'PUT':
      if (has('acl')) return obj(objectApi.putObjectAcl);
      if (has('tagging')) return obj(objectApi.putObjectTagging);
      if (has('symlink')) return obj(objectApi.putSymlink);
      if (has('uploadId') || has('partNumber')) {
        return obj(o.headers['x-oss-copy-source'] !== undefined ? multipartApi.uploadPartCopy : multipartApi.uploadPart);
      }
      if (o.headers['x-oss-copy-source'] !== undefined) return obj(objectApi.copyObject);
      return obj(objectApi.putObject);
    case 'GET':
      if (has('acl')) return obj(objectApi.getObjectAcl);
      if (has('tagging')) return obj(objectApi.getObjectTagging);
      if (has('symlink')) return obj(objectApi.getSymlink);
      if (has('uploadId')) return obj(multipartApi.listParts);
      return obj(objectApi.getObject);
    case 'HEAD':
      if (has('objectMeta')) return obj(objectApi.getObjectMeta);
      return obj(objectApi.headObject);
    case 'DELETE':
      if (has('tagging')) return obj(objectApi.deleteObjectTagging);
      if (has('uploadId')) return obj(multipartApi.abortMultipartUpload);
      return obj(objectApi.deleteObject);
    case 'POST':
      if (has('uploads')) return obj(multipartApi.initiateMultipartUpload);
      if (has('uploadId')) return obj(multipartApi.completeMultipartUpload);
      if (has('append')) return obj(objectApi.appendObject);
      if (has('restore')) return obj(objectApi.restoreObject);
      return undefined;
    default:
      return undefined;
  }
}

export async function startOssServer(options: OssServerOptions): Promise<OssServer> {
  const region = options.region ?? 'cn-hangzhou';
  const accountId = options.accountId ?? '1234567890123456';
  // Before the store opens: bad fault options fail without touching the data directory.
  const faults = options.faults ? new FaultInjector(options.faults) : undefined;
  const store = await Store.open(options.storage);
  const events = new OssEvents(region, accountId);
  const settings: ServerSettings = {
    region,
    copyObjectLimitBytes: 1024 ** 3,
    selfCopyMetadata: 'copy',
    restoreDelayMs: 1000,
    // With a KMS attached, SSE-KMS without a key id gets that KMS's default key, as OSS
    // records its default CMK's real id.
    defaultKmsKeyId: options.kms?.defaultKeyId ?? 'oss-sse-local-default-kms-key',
    ...options.settings,
    ...(options.kms ? { kms: options.kms } : {}),
  };
  const secrets = new Map(Object.entries(options.credentials));
  const lookupSecret = (id: string) => secrets.get(id) ?? options.ram?.secretOf(id);
  const arnScope = { region, accountId };
  // Request ids: 24 upper-case hex like OSS's; a random prefix and a counter keep them cheap and unique.
  const idPrefix = randomBytes(6).toString('hex').toUpperCase();
  let counter = 0;
  const nextRequestId = (): string => idPrefix + (counter++ & 0xffffffff).toString(16).toUpperCase().padStart(12, '0');
  let hostId = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = nextRequestId();
    res.setHeader('x-oss-request-id', requestId);
    res.setHeader('server', 'AliyunOSS');
    res.setHeader('date', new Date().toUTCString());
    const method = req.method ?? 'GET';
    let status: Answered = 500;
    // Set when an injected fault replaces or withholds the handler's answer (faults.ts).
    let finishFault: (() => Promise<Answered>) | undefined;
    try {
      let oss: OssRequest;
      try {
        oss = parseOssRequest(method, req.url ?? '/', req.headers);
      } catch (e) {
        throw Errors.invalidArgument(`Malformed request URL: ${(e as Error).message}`);
      }
      // Verify over the header bytes as sent; handlers keep the latin1 view so stored values round-trip byte for byte.
      const auth = verifyOssRequest(signingView(oss), { lookupSecret, region });
      if (!auth.ok) throw new OssError(auth.status, auth.code, auth.message);
      options.onRequest?.(oss, requestId);
      const authorize = options.ram && ossAuthorizer(options.ram, { accessKeyId: auth.accessKeyId, securityToken: auth.securityToken });
      if (faults) {
        const admission = await faults.admit(
          req,
          res,
          { method, bucket: oss.bucket, key: oss.key, query: oss.query, accessKeyId: auth.accessKeyId, requestId },
          (err) => sendError(req, res, err, requestId, hostId),
        );
        if (!admission.handle) {
          status = 'no-answer';
          return;
        }
        finishFault = admission.finish;
      }
      for (const k of Object.keys(oss.query)) {
        if (OTHER_OSS_SUBRESOURCES.has(k) && !KNOWN_SUBRESOURCES.has(k)) throw Errors.notImplemented(`The ?${k} sub-resource`);
      }
      if (oss.bucket === undefined || oss.bucket === '') {
        if (method !== 'GET') throw new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
        const serviceCtx: RequestContext = {
          req,
          res,
          oss: { ...oss, bucket: '' },
          requestId,
          accessKeyId: auth.accessKeyId,
          store,
          events,
          settings,
          ...(authorize ? { authorize } : {}),
        };
        authorizeOssRequest(serviceCtx, bucketApi.listBuckets, arnScope);
        await bucketApi.listBuckets(serviceCtx);
        status = res.statusCode;
        return;
      }
      const ctx: RequestContext = {
        req,
        res,
        oss: oss as RequestContext['oss'],
        requestId,
        accessKeyId: auth.accessKeyId,
        store,
        events,
        settings,
        ...(authorize ? { authorize } : {}),
      };
      const handler = route(ctx.oss);
      if (!handler) throw new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
      authorizeOssRequest(ctx, handler, arnScope);
      await handler(ctx);
      status = res.statusCode;
    } catch (e) {
      if (clientWentAway(req, e)) {
        // The connection is gone (the client reset it, or the parser refused the rest of the
        // request and answered 400 itself): nothing failed here and nothing can be answered.
        status = 'no-answer';
        return;
      }
      const err = e instanceof OssError ? e : new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.');
      if (!(e instanceof OssError)) options.log?.(`internal error ${requestId}: ${(e as Error).stack ?? String(e)}`);
      status = err.status;
      sendError(req, res, err, requestId, hostId);
    } finally {
      if (finishFault) status = await finishFault();
      if (options.log) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        options.log(`${method} ${req.headers.host ?? ''}${(req.url ?? '').split('?')[0]} ${status} ${ms.toFixed(1)}ms ${requestId}`);
      }
    }
  }

  // A request Node's parser refuses (malformed or ambiguous framing) still gets OSS's XML
  // error document; the code is this server's choice, OSS documents none for it.
  const refusal = (status: number) => {
    const requestId = nextRequestId();
    const err = new OssError(
      status,
      'InvalidRequest',
      'The request is not well-formed HTTP/1.1: its message framing is malformed or ambiguous.',
    );
    return {
      headers: { 'x-oss-request-id': requestId, server: 'AliyunOSS', 'content-type': 'application/xml', 'x-oss-ec': err.ec },
      body: errorXml(err, requestId, hostId),
    };
  };
  const listening = await listenLoopback(handle, { ...options, refusal });
  hostId = `oss-${region}.aliyuncs.com`;
  return {
    url: listening.url,
    port: listening.port,
    region,
    events,
    store,
    ...(faults ? { faults } : {}),
    settings,
    close: listening.close,
  };
}

/** The request stream was torn down under the handler ('aborted' is an ECONNRESET). */
function clientWentAway(req: IncomingMessage, e: unknown): boolean {
  return req.destroyed && !(e instanceof OssError) && (e as NodeJS.ErrnoException).code === 'ECONNRESET';
}

function sendError(req: IncomingMessage, res: ServerResponse, err: OssError, requestId: string, hostId: string): void {
  if (res.headersSent) {
    // The body was already streaming: the only honest signal left is a broken connection.
    res.destroy();
    return;
  }
  // Drain what the client is still sending so the connection can be reused.
  req.resume();
  if (err instanceof NotModified) {
    res.writeHead(304, { 'content-length': 0 });
    res.end();
    return;
  }
  const body = errorXml(err, requestId, hostId);
  if (req.method === 'HEAD') {
    // HEAD responses have no body: OSS puts the error document, base64, in x-oss-err.
    res.writeHead(err.status, { 'x-oss-err': Buffer.from(body).toString('base64'), 'x-oss-ec': err.ec, 'content-length': 0 });
    res.end();
    return;
  }
  res.writeHead(err.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-oss-ec': err.ec });
  res.end(body);
}
