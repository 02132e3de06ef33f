import { writeAll } from './sys/stdout.js';

/**
 * Last resort for an exception nothing caught (src/entry.ts, bench/sea/snapshot-entry.ts). A failed
 * write (EPIPE: the caller is gone; ENOSPC: stdout is a full file) is not a bug: one line says so,
 * without a stack trace. Anything else is an internal error (110) with its stack on stderr (never
 * stdout). Neither write may throw again (a throwing handler made Node exit 7 with its own dump):
 * the exit code is always 1, the CNI error exit code.
 */
export function fatal(e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  const tryWrite = (fd: number, text: string) => {
    try {
      writeAll(fd, text);
    } catch {
      /* nowhere left to say it */
    }
  };
  if (err && err.syscall === 'write' && typeof err.code === 'string') {
    tryWrite(2, `dpdk-cni: the output could not be delivered: writing it failed (${err.code}); is the caller (the container runtime) gone or its stdout unusable?\n`);
  } else {
    tryWrite(2, `dpdk-cni: fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
    tryWrite(1, `${JSON.stringify({ cniVersion: '1.1.0', code: 110, msg: `internal error: ${e instanceof Error ? e.message : String(e)}`, details: '' })}\n`);
  }
  process.exit(1);
}

/** Route every uncaught exception to fatal(): Node's own diagnostics must never reach stdout (the CNI result channel). */
export function installFatal(): void {
  process.on('uncaughtException', fatal);
}
