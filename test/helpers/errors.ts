import { expect } from 'vitest';
import { CniError } from '../../src/cni/errors.js';

/** Run `fn`, expect it to throw a CniError, and return it for assertions on code and message. */
export function expectCniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error('expected a CniError');
}
