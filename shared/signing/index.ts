/** Request signing: Alibaba Cloud OSS (V1 and V4). */
export * from './oss';
/** Request signing: Alibaba Cloud RPC APIs (KMS), HMAC-SHA1 signature version 1.0. */
export * from './kms';
