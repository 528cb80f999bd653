/**
 * Typed decorators over OssPort: the same port with something done before or after its calls
 * (a rate limit's token, counting what HEAD found).
 *
 * The decorator forwards each method by its name taken from the operation table, never by a
 * written-out `port.headObject(…)` call: deploy/reachable-ops.ts derives each function's RAM
 * policy from the OssPort calls the type checker finds in its bundle, and a decorator that
 * spelled out every method would make every OSS operation reachable from the backfill.
 */
import { OSS_OPERATIONS } from '../oss/operations';
import type { OssPort } from '../oss/port';

export type OssMethod = keyof OssPort;

/** Every OssPort method, once: the operation table has a row for each (the compiler checks it there). */
export const OSS_PORT_METHODS = Object.keys(OSS_OPERATIONS) as readonly OssMethod[];

/** What a method's call resolved with, and the arguments it was called with. */
export type AfterHook<K extends OssMethod> = (result: Awaited<ReturnType<OssPort[K]>>, args: Parameters<OssPort[K]>) => void;

export interface OssHooks {
  /** Awaited before every call is sent (e.g. a token from a rate limiter). */
  before?: (method: OssMethod) => Promise<void>;
  /** Called after a method's call resolved, with its result and arguments (not when it throws). */
  after?: { [K in OssMethod]?: AfterHook<K> };
}

/** The same port, every call passing through `hooks`; arguments and results are passed on untouched. */
export function decorateOssPort(port: OssPort, hooks: OssHooks): OssPort {
  const decorated: Partial<Record<OssMethod, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const method of OSS_PORT_METHODS) {
    // One generic forwarder for methods of different signatures: typed by OssPort at the edges.
    const forward = port[method] as (...args: unknown[]) => Promise<unknown>;
    const after = hooks.after?.[method] as ((result: unknown, args: unknown[]) => void) | undefined;
    decorated[method] = async (...args: unknown[]) => {
      await hooks.before?.(method);
      const result = await forward.apply(port, args);
      after?.(result, args);
      return result;
    };
  }
  return decorated as OssPort;
}
