/** Invoking Function Compute functions: the port (port.ts) and its @alicloud/fc2 implementation (client.ts). */
export {
  accountIdProblem,
  FC_ACCOUNT_ID_RE,
  FC_FUNCTION_NAME_RE,
  FcInvokeError,
  fcEndpoint,
  type FcInvokeErrorDetails,
  type FcInvokeResult,
  type FcInvoker,
  type FunctionErrorDetail,
} from './port';
export { createFcInvoker, FC_API_VERSION, toFcInvokeError, type FcInvokerOptions } from './client';
