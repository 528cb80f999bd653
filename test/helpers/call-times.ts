import type { OssPort } from '../../shared/oss/port';

/**
 * The port, noting the moment each call starts (performance.now()): every call, or only those
 * to `bucket`. Behind a rate limiter that is the moment its token was granted: what the cap
 * governs, free of the network's jitter.
 */
export function callTimes(port: OssPort, bucket?: string): { port: OssPort; times: number[] } {
  const times: number[] = [];
  const timed = new Proxy(port, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (bucket === undefined || args[0] === bucket) times.push(performance.now());
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { port: timed, times };
}
