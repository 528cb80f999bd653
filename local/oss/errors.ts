/**
 * OSS error responses. Every failure the local server returns goes through OssError so
 * the status, code and XML document match what real OSS sends (and what ali-oss parses
 * into err.code / err.status / err.requestId / err.ecCode).
 */
export class OssError extends Error {
  override readonly name = 'OssError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra elements of the error document (e.g. Condition, BucketName, Key; AccessDeniedDetail nests one level). */
    readonly extra: Record<string, string | Readonly<Record<string, string>>> = {},
    /** OSS "EC" error-centre code, when the real service publishes one. */
    readonly ec = '0000-00000000',
  ) {
    super(message);
  }
}

// Constructors for the errors the server uses more than once; names match OSS codes.
export const Errors = {
  noSuchBucket: (bucket: string) =>
    new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: bucket }, '0015-00000101'),
  noSuchKey: (key: string) => new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key }, '0026-00000001'),
  noSuchVersion: (key: string, versionId: string) =>
    new OssError(404, 'NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: versionId }, '0026-00000002'),
  noSuchUpload: (uploadId: string) =>
    new OssError(
      404,
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      { UploadId: uploadId },
      '0042-00000002',
    ),
  invalidArgument: (message: string, name?: string, value?: string) =>
    new OssError(400, 'InvalidArgument', message, name === undefined ? {} : { ArgumentName: name, ArgumentValue: value ?? '' }),
  malformedXml: (message = 'The XML you provided was not well-formed or did not validate against our published schema.') =>
    new OssError(400, 'MalformedXML', message),
  preconditionFailed: (condition: string) =>
    new OssError(
      412,
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold.',
      { Condition: condition },
      '0026-00000011',
    ),
  invalidObjectState: (message = "The operation is not valid for the object's state.") =>
    new OssError(403, 'InvalidObjectState', message, {}, '0026-00000009'),
  notImplemented: (what: string) => new OssError(400, 'NotImplemented', `${what} is not supported by the oss-sse local stack.`),
};

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function errorXml(err: OssError, requestId: string, hostId: string): string {
  let extra = '';
  for (const [k, v] of Object.entries(err.extra)) {
    if (typeof v === 'string') {
      extra += `\n  <${k}>${xmlEscape(v)}</${k}>`;
      continue;
    }
    let inner = '';
    for (const [ik, iv] of Object.entries(v)) inner += `\n    <${ik}>${xmlEscape(iv)}</${ik}>`;
    extra += `\n  <${k}>${inner}\n  </${k}>`;
  }
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n' +
    `  <Code>${err.code}</Code>\n  <Message>${xmlEscape(err.message)}</Message>\n` +
    `  <RequestId>${requestId}</RequestId>\n  <HostId>${xmlEscape(hostId)}</HostId>${extra}\n` +
    `  <EC>${err.ec}</EC>\n</Error>\n`
  );
}
