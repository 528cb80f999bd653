/** The error a promise rejects with, typed as the test expects it; a promise that resolves fails the test. */
export async function rejectionOf<E>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (e) {
    return e as E;
  }
  throw new Error('expected the call to fail');
}

/** The error `fn` throws, asserted to be an instance of `type`; a call that returns fails the test. */
export function thrownBy<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${String(e)}`);
  }
  throw new Error(`expected ${type.name}, but nothing was thrown`);
}
