export * from './names';
export * from './config';
