/** The FC-like local runtime: see runtime.ts. */
export {
  createRuntime,
  FunctionRuntime,
  type AsyncRetryOptions,
  type Credentials,
  type FailureRecord,
  type FunctionConfig,
  type InvokeEvent,
  type InvokeOptions,
  type RuntimeOptions,
} from './runtime';
export { FunctionError, type FunctionErrorKind } from './errors';
export type { FcContext, LogLevel, WireError } from './protocol';
