/**
 * The error half of a test: what a call rejected with, as a CairnError, so that the test can
 * check its code, message and data.
 *
 * @module
 */
import { isCairnError, type CairnError } from '../../src/errors.js';

/**
 * The CairnError `promise` rejects with. Anything else fails the test: a resolve, or another
 * error (rethrown as it is, so the test shows it).
 *
 * @example
 * expect((await failure(store.blobs.readBytes(digest, { maxSize: 1 }))).code).toBe('invalid-argument');
 */
export async function failure(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error('expected a CairnError, but it succeeded');
}

/**
 * The error a synchronous call throws, as the Node-style error the sys layer makes (`code`,
 * `syscall`, `path`). A call that throws nothing fails the test.
 */
export function thrown(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected a throw');
}
