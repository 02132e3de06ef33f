import { readSync } from 'node:fs';
import { CniError, Code } from './errors.js';

/** The largest netconf accepted on stdin (Multus' are a few KiB; a state file keeps a copy). */
export const MAX_STDIN = 1 << 20;

/** Read stdin, at most MAX_STDIN + 1 bytes (one more tells that it was too large). */
export function readStdin(): string {
  // not zero-filled: only the bytes read are used (this runs on every pod start)
  const buf = Buffer.allocUnsafe(MAX_STDIN + 1);
  let off = 0;
  try {
    while (off < buf.length) {
      const n = readSync(0, buf, off, buf.length - off, null);
      if (n === 0) break;
      off += n;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // no stdin at all (closed / a TTY a human pressed ^D on) reads as empty
    if (code !== 'EAGAIN' && code !== 'EOF' && code !== 'ENXIO') {
      throw new CniError(Code.IoFailure, `could not read the network configuration from stdin: ${(e as Error).message}`);
    }
  }
  return buf.subarray(0, off).toString('utf8');
}
