/** Request signing: Alibaba Cloud OSS (V1 and V4). */
export * from './oss';
