// The invocation's decoding and error are general (shared/validation/event.ts); the event parsers throw them.
export { decodeEvent, EventValidationError } from '../validation/event';
export * from './oss-trigger';
export * from './eventbridge';
export * from './object-events';
export * from './bucket-events';
export * from './ping';
