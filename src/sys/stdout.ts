import { writeSync } from 'node:fs';

/**
 * Write to a file descriptor synchronously and completely. Touching process.stdout on a pipe
 * makes Node build a net.Socket and load the stream machinery (several ms per pod start); the CNI
 * result is small and written once, so plain write(2) is enough. EAGAIN (a non-blocking pipe that
 * is full) is retried.
 */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/**
 * One write(2) of `text` to `fd`, for log lines: a full non-blocking pipe (EAGAIN) drops the line
 * instead of spinning until a reader drains it, so logging can never hang the plugin.
 */
export function writeOnce(fd: number, text: string): void {
  writeSync(fd, text);
}
