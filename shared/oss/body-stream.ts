/** A streamed GetObject's body, handed out chunk by chunk with an idle timeout per chunk. */
import type { IncomingMessage } from 'node:http';
import { redact, where, type Subject } from './failures';
import { OssRequestError } from './port';

/**
 * A streamed GET's body as an async iterable of chunks. Each chunk is awaited at most
 * `idleMs` (a stalled server fails, a slow consumer does not: the clock only runs while the
 * consumer waits); an early end is a NetworkError, never a silent short read; stopping
 * (return()) or any failure destroys the response so its socket is not left half-read.
 */
export function streamedBody(
  res: IncomingMessage,
  c: Subject,
  idleMs: number,
  /** Content-Length, when the response has one. */
  size: number | undefined,
  secrets: readonly string[],
): AsyncIterable<Buffer> {
  let taken = false;
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      if (taken) throw new Error(`OSS ${c.op} on ${where(c)}: the body can be read only once`);
      taken = true;
      const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      let received = 0;
      let over = false;
      const stop = (): void => {
        if (over) return;
        over = true;
        res.destroy();
      };
      return {
        async next(): Promise<IteratorResult<Buffer>> {
          if (over) return { done: true, value: undefined };
          let timer: NodeJS.Timeout | undefined;
          const idle = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new OssRequestError('timeout', 'ClientTimeout', `OSS ${c.op} on ${where(c)}: no data for ${idleMs} ms after ${received} bytes`),
                ),
              idleMs,
            );
          });
          try {
            const r = await Promise.race([chunks.next(), idle]);
            if (r.done) {
              over = true;
              if (!res.complete || (size !== undefined && received !== size)) {
                throw new OssRequestError(
                  'network-error',
                  'NetworkError',
                  `OSS ${c.op} on ${where(c)}: the body ended after ${received} of ${size ?? 'an unknown number of'} bytes`,
                );
              }
              return { done: true, value: undefined };
            }
            received += r.value.length;
            return { done: false, value: r.value };
          } catch (e) {
            stop();
            if (e instanceof OssRequestError) throw e;
            const err = e as Error & { code?: string };
            throw new OssRequestError(
              'network-error',
              'NetworkError',
              redact(`OSS ${c.op} on ${where(c)} failed after ${received} bytes: ${err.code ?? 'network error'}: ${err.message}`, secrets),
            );
          } finally {
            clearTimeout(timer);
          }
        },
        async return(): Promise<IteratorResult<Buffer>> {
          stop();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
