/**
 * The OS layer's own error. It says what went wrong in OS terms (`kind`, and `errno` when the
 * kernel gave one); the CNI code is chosen where a verb calls the OS layer (verbs/, cni/skel.ts).
 */
export type SysErrorKind =
  /** DPDK_CNI_ROOT is not an absolute path */
  | 'invalid-root'
  /** a lock was not had within its timeout */
  | 'lock-timeout'
  /** the test build's DPDK_CNI_TEST_FAIL_AT hook (sys/fault.ts) */
  | 'injected';

export class SysError extends Error {
  constructor(
    readonly kind: SysErrorKind,
    message: string,
    readonly errno?: string,
  ) {
    super(message);
  }
}
Object.defineProperty(SysError.prototype, 'name', { value: 'SysError', enumerable: false });

export function isSysError(e: unknown, kind: SysErrorKind): e is SysError {
  return e instanceof SysError && e.kind === kind;
}
