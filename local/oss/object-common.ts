/**
 * What every object write shares: key validation, overwrite protection, Content-Length and
 * Content-MD5 checks, and the event it publishes.
 */
import { objectKeyProblem } from '../../shared/validation/names';
import { header, type ObjectContext, type RequestContext } from './context';
import { Errors, OssError } from './errors';

export function checkKey(key: string): void {
  const problem = objectKeyProblem(key);
  if (problem) throw new OssError(400, 'InvalidObjectName', `The specified object name is not valid: ${problem}.`, {}, '0016-00000005');
}

/** `x-oss-forbid-overwrite: true` refuses to replace an existing object. */
export function forbidOverwrite(ctx: ObjectContext): void {
  // No effect once versioning was ever enabled: OSS keeps the old data as a version. See docs/oss-behaviour.md#objects-and-re-encryption.
  if (ctx.store.bucket(ctx.oss.bucket).versioning !== undefined) return;
  if (header(ctx, 'x-oss-forbid-overwrite') === 'true' && ctx.store.current(ctx.oss.bucket, ctx.oss.key)) {
    throw new OssError(
      409,
      'FileAlreadyExists',
      'The object you specified already exists and can not be overwritten.',
      {},
      '0026-00000002',
    );
  }
}

export function contentLength(ctx: RequestContext): number | undefined {
  const v = header(ctx, 'content-length');
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw Errors.invalidArgument('Content-Length is not a number', 'Content-Length', v);
  return Number(v);
}

/** Content-MD5, when sent, must be the base64 MD5 of what arrived. */
export function checkContentMd5(ctx: RequestContext, md5: Buffer): void {
  const want = header(ctx, 'content-md5');
  if (want !== undefined && want !== md5.toString('base64')) {
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': want }, '0016-00000102');
  }
}

export function emitObjectEvent(
  ctx: ObjectContext,
  name: string,
  object: { etag: string; size: number; deltaSize: number; contentType?: string },
): void {
  ctx.events.objectEvent({
    name,
    bucket: ctx.oss.bucket,
    key: ctx.oss.key,
    ...object,
    requestId: ctx.requestId,
    sourceIp: ctx.req.socket.remoteAddress ?? '',
  });
}
