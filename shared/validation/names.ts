import * as z from 'zod';

/**
 * Bucket and object names as OSS accepts them. The plain functions are for the local OSS
 * server's hot path (no zod allocation per request); the schemas wrap the same functions
 * so both always agree.
 */

/** 3–63 chars of a-z, 0-9 and '-', not starting or ending with '-'. */
const BUCKET_NAME_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export const MAX_OBJECT_KEY_BYTES = 1023;

export function isValidBucketName(s: string): boolean {
  return BUCKET_NAME_RE.test(s);
}

/**
 * Why `key` is not a valid OSS object name, or undefined when it is. Rejects only what
 * OSS rejects (empty, more than 1023 UTF-8 bytes, leading '/' or '\'), plus lone UTF-16
 * surrogates, which have no UTF-8 encoding and so could never reach OSS intact. Invalid
 * UTF-8 on the wire is the HTTP layer's concern: by the time a key is a JS string it has
 * been decoded (to U+FFFD at worst).
 */
export function objectKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  const first = key.charCodeAt(0);
  if (first === 0x2f) return "it starts with '/'";
  if (first === 0x5c) return "it starts with '\\'";
  // Every UTF-16 code unit takes at least one UTF-8 byte: no need to scan a longer string.
  if (key.length > MAX_OBJECT_KEY_BYTES) return `it is longer than ${MAX_OBJECT_KEY_BYTES} bytes in UTF-8`;
  let bytes = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else if (c <= 0xdbff && i + 1 < key.length && isLowSurrogate(key.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else {
      return `it contains a lone surrogate U+${c.toString(16).toUpperCase()} at index ${i}, which has no UTF-8 encoding`;
    }
  }
  if (bytes > MAX_OBJECT_KEY_BYTES) return `it is ${bytes} bytes in UTF-8, more than ${MAX_OBJECT_KEY_BYTES}`;
  return undefined;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

export const BucketNameSchema = z.string().refine(isValidBucketName, {
  error: 'bucket name must be 3-63 characters of lower-case letters, digits and hyphens, not starting or ending with a hyphen',
});
export type BucketName = z.infer<typeof BucketNameSchema>;

export const ObjectKeySchema = z.string().superRefine((key, ctx) => {
  const problem = objectKeyProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid object key: ${problem}` });
});
export type ObjectKey = z.infer<typeof ObjectKeySchema>;
