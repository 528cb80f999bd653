/** RFC 3986 percent-encoding (OSS V4, RPC signatures, OSS request paths). */
export * from './rfc3986';
/** Request signing: Alibaba Cloud OSS (V1 and V4). */
export * from './oss';
export * from './oss-subresources';
/** Request signing: Alibaba Cloud RPC APIs (KMS), HMAC-SHA1 signature version 1.0. */
export * from './kms';
/** Request signing: Alibaba Cloud Function Compute (`FC ak:sig`, HMAC-SHA256), as @alicloud/fc2 signs. */
export * from './fc';
