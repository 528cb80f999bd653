/** The error a failed invocation rejects with: FC's `{ errorMessage, errorType, stackTrace }` plus where it came from. */
import type { WireError } from './protocol';

/**
 * Why the invocation failed, so a caller (the local FC server) can map it:
 * handler = the handler threw/rejected; init = the bundle failed at cold start;
 * timeout = ran past the function timeout (instance killed); crash = the instance died;
 * not-found = no such function; closed = the runtime was closed.
 */
export type FunctionErrorKind = 'handler' | 'init' | 'timeout' | 'crash' | 'not-found' | 'closed';

export class FunctionError extends Error {
  override readonly name = 'FunctionError';
  readonly errorMessage: string;
  readonly errorType: string;
  readonly stackTrace?: string[];

  constructor(
    readonly functionName: string,
    readonly requestId: string,
    readonly kind: FunctionErrorKind,
    wire: WireError,
  ) {
    // The JS message says which function and phase; errorMessage stays what FC would report.
    super(kind === 'init' ? `function ${functionName} failed at cold start: ${wire.errorMessage}` : wire.errorMessage);
    this.errorMessage = wire.errorMessage;
    this.errorType = wire.errorType;
    if (wire.stackTrace !== undefined) this.stackTrace = wire.stackTrace;
  }

  /** FC's error body. */
  toJSON(): WireError {
    return {
      errorMessage: this.errorMessage,
      errorType: this.errorType,
      ...(this.stackTrace ? { stackTrace: this.stackTrace } : {}),
    };
  }
}
