export * from './errors';
export * from './decode';
export * from './oss-trigger';
export * from './eventbridge';
export * from './object-events';
export * from './bucket-events';
