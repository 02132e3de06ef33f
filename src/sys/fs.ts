import * as fs from 'node:fs';
import * as path from 'node:path';
import { step } from './fault.js';
import { replaceAtomic, type Content } from './replace-file.js';

/** Thin port over the filesystem so the logic can be tested against a fake. */
export interface Fs {
  readText(p: string): string | undefined;
  readlink(p: string): string | undefined;
  readdir(p: string): string[];
  exists(p: string): boolean;
  isDir(p: string): boolean;
  realpath(p: string): string | undefined;
  writeAtomic(p: string, data: string, mode: number): void;
  mkdirp(p: string, mode: number): void;
  remove(p: string): boolean;
  /** Rename `from` to `to` (same directory), then fsync the directory. */
  rename(from: string, to: string): void;
  /** Milliseconds since the file was last modified (Infinity when it does not exist). */
  ageMs(p: string): number;
  /**
   * A configuration file an operator points a tool at (symlinks followed: a ConfigMap mount is a
   * chain of them): undefined when missing; a problem when it is not a regular file or is larger
   * than `maxBytes`. Opened without blocking (a FIFO would hang the read) and checked on the
   * descriptor, so /dev/zero or a FIFO is refused instead of read without end.
   */
  readRegular(p: string, maxBytes: number): { text: string } | { problem: string } | undefined;
  /**
   * Write a value to an existing kernel attribute (driver_override, <driver>/unbind,
   * drivers_probe): never creates a file and never follows a symlink, so a missing attribute is
   * an error on a real node and on a simulated one alike.
   */
  writeAttr(p: string, value: string): void;
  /** Size of the regular file at `p` (symlinks followed); undefined when missing or not a regular file. */
  fileSize(p: string): number | undefined;
  /** True when `b` is a regular file with the same bytes as `a` (read in chunks). */
  sameBytes(a: string, b: string): boolean;
  /**
   * Replace `p` atomically with a text or a copy of a file, for several writers at once (each its
   * own temp name `<tmpPrefix><pid>.<random>.tmp`, stale ones swept): see sys/replace-file.ts.
   */
  replaceFile(p: string, content: Content, mode: number, tmpPrefix?: string): void;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/**
 * writeAtomic() writes `<dir>/.<name>.tmp`, fsyncs it and renames it over `<name>`. Every writer of
 * a given file holds that device's lock, so one temp name per file is enough. A writer killed
 * between creating and renaming it (SIGKILL, OOM) leaves it behind: the next write or removal of
 * the same file deletes it (O(1), no directory scan on the CNI hot path), and GC sweeps the
 * state directories (the runtime never runs GC concurrently with ADD or DEL). At most one temp
 * file can exist per state file, so they cannot accumulate.
 */
export function tmpPathOf(p: string): string {
  return path.join(path.dirname(p), `.${path.basename(p)}.tmp`);
}
/** A file that is not there, or whose name is too long to exist. */
function absent(e: unknown): boolean {
  return errno(e) === 'ENOENT' || errno(e) === 'ENAMETOOLONG';
}
function unlinkQuiet(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (e) {
    if (!absent(e)) throw e;
  }
}

function readRegular(p: string, maxBytes: number): { text: string } | { problem: string } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
    return { problem: `cannot be opened (${errno(e) ?? (e as Error).message})` };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { problem: 'is not a regular file (a FIFO, device, socket or directory): not read' };
    if (st.size > maxBytes) return { problem: `is larger than ${maxBytes / 1048576} MiB (${st.size} bytes): not read` };
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > maxBytes) return { problem: `is larger than ${maxBytes / 1048576} MiB: not read` };
    }
    return { text: buf.subarray(0, n).toString('utf8') };
  } catch (e) {
    return { problem: `cannot be read (${errno(e) ?? (e as Error).message})` };
  } finally {
    fs.closeSync(fd);
  }
}

function writeAttr(p: string, value: string): void {
  const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW);
  try {
    fs.writeSync(fd, value);
  } finally {
    fs.closeSync(fd);
  }
}

function fileSize(p: string): number | undefined {
  try {
    const st = fs.statSync(p);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

const CHUNK = 1 << 20;

function sameBytes(a: string, b: string): boolean {
  let sb: fs.Stats;
  try {
    sb = fs.statSync(b);
  } catch {
    return false;
  }
  const sa = fs.statSync(a);
  if (!sb.isFile() || sa.size !== sb.size) return false;
  if (sa.ino === sb.ino && sa.dev === sb.dev) return true;
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  try {
    const ba = Buffer.allocUnsafe(CHUNK);
    const bb = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const na = fs.readSync(fa, ba, 0, CHUNK, null);
      const nb = fs.readSync(fb, bb, 0, CHUNK, null);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (ba.compare(bb, 0, nb, 0, na) !== 0) return false;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

export const realFs: Fs = {
  readRegular,
  writeAttr,
  fileSize,
  sameBytes,
  replaceFile: replaceAtomic,
  readText(p) {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
      throw e;
    }
  },
  readlink(p) {
    try {
      return fs.readlinkSync(p);
    } catch {
      return undefined;
    }
  },
  readdir(p) {
    try {
      return fs.readdirSync(p);
    } catch {
      return [];
    }
  },
  exists(p) {
    return fs.existsSync(p);
  },
  isDir(p) {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  },
  realpath(p) {
    try {
      return fs.realpathSync(p);
    } catch {
      return undefined;
    }
  },
  /** temp file in the same directory + fsync + rename: readers see the old or the new file. */
  writeAtomic(p, data, mode) {
    const tmp = tmpPathOf(p);
    try {
      unlinkQuiet(tmp); // left by a writer of this file that was killed
    } catch {
      /* a read-only or unwritable directory: the open below says so about the file being written */
    }
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
    try {
      fs.writeSync(fd, data);
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
      step('fs:tmp-written');
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    fs.closeSync(fd);
    try {
      fs.renameSync(tmp, p);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  },
  mkdirp(p, mode) {
    fs.mkdirSync(p, { recursive: true, mode });
  },
  rename(from, to) {
    fs.renameSync(from, to);
    try {
      const fd = fs.openSync(path.dirname(to), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      /* some filesystems refuse fsync on a directory; the rename already happened */
    }
  },
  remove(p) {
    let removed = false;
    try {
      fs.unlinkSync(p);
      removed = true;
    } catch (e) {
      if (!absent(e)) throw e;
    }
    unlinkQuiet(tmpPathOf(p));
    return removed;
  },
  ageMs(p) {
    try {
      return Date.now() - fs.lstatSync(p).mtimeMs;
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  },
};
