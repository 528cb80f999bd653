/** The error a promise rejects with, typed as the test expects it; a promise that resolves fails the test. */
export async function rejectionOf<E>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (e) {
    return e as E;
  }
  throw new Error('expected the call to fail');
}
