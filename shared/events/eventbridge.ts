import * as z from 'zod';
import { OssEventRecordSchema } from './oss-trigger';

/**
 * The CloudEvents envelope EventBridge delivers to Function Compute. Loose, like
 * every event schema here: EventBridge may add `aliyun*` extensions.
 * See docs/oss-behaviour.md#bucket-creation-events.
 */
export function CloudEventSchema<T extends z.ZodType>(dataSchema: T) {
  return z.looseObject({
    id: z.string().min(1),
    source: z.string().min(1),
    specversion: z.literal('1.0'),
    type: z.string().min(1),
    subject: z.string().optional(),
    time: z.string().min(1),
    datacontenttype: z.string().optional(),
    aliyunaccountid: z.string().optional(),
    aliyunpublishtime: z.string().optional(),
    aliyuneventbusname: z.string().optional(),
    aliyunregionid: z.string().optional(),
    data: dataSchema,
  });
}
export type CloudEvent<T> = Omit<z.infer<ReturnType<typeof CloudEventSchema<z.ZodUnknown>>>, 'data'> & { data: T };

/** `oss:ObjectCreated:PutObject`, `oss:ObjectRemoved:DeleteObject`, `oss:ObjectModified:UpdateObjectMeta`, … */
export const OSS_OBJECT_EVENT_TYPE_RE = /^oss:Object[A-Za-z]+:[A-Za-z]+$/;

export const OssObjectEventTypeSchema = z.string().regex(OSS_OBJECT_EVENT_TYPE_RE, {
  error: 'must be an OSS object event type such as oss:ObjectCreated:PutObject',
});

/** EventBridge object events: `data` is ONE record of the OSS trigger shape, not wrapped in `events[]`. */
export const OssObjectCloudEventSchema = CloudEventSchema(OssEventRecordSchema).extend({ type: OssObjectEventTypeSchema });
export type OssObjectCloudEvent = z.infer<typeof OssObjectCloudEventSchema>;
