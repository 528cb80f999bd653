/** The KMS port the functions use: DescribeKey and the SSE-KMS key rule; the SDK loads lazily. */
export * from './port';
export { createKmsPort, toKmsError, type KmsPortOptions } from './client';
