import * as fs from 'node:fs';
import * as path from 'node:path';
import { step } from './fault.js';
import { replaceAtomic, type Content } from './replace-file.js';

/** What a stat call tells (the fields the plugin judges files by). */
export interface FileStat {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  /** permission and type bits, as st_mode */
  mode: number;
  mtimeMs: number;
}

/** A live network namespace, one that is gone, or one that cannot be inspected (EACCES/EPERM). */
export type NetnsState = 'live' | 'gone' | 'unknown';

/**
 * Thin port over the filesystem so the logic can be tested against a fake. Errors of the
 * descriptor-level calls (open, stat, mkdir...) keep Node's errno `code` (ENOENT, ELOOP...).
 */
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
  /** lstat: undefined when `p` or a directory above it is missing (ENOENT, ENOTDIR) */
  lstat(p: string): FileStat | undefined;
  /** stat (symlinks followed); throws when it cannot */
  stat(p: string): FileStat;
  /** one directory (not recursive); throws EEXIST when something is there */
  mkdir(p: string, mode: number): void;
  /** open(2) with node:fs constants; the descriptor is close-on-exec */
  open(p: string, flags: number, mode?: number): number;
  fstat(fd: number): FileStat;
  /** read at `pos` (null: the current offset); 0 at the end */
  read(fd: number, buf: Buffer, off: number, len: number, pos: number | null): number;
  /** write all of `text` (an O_APPEND descriptor appends) */
  write(fd: number, text: string): void;
  close(fd: number): void;
  /** Is `p` a live network namespace? (see sys/netns.ts) */
  netnsState(p: string): NetnsState;
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

/** open(2) flags for Fs.open (node:fs constants). */
export const O = fs.constants;

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

/** f(), or undefined when it fails in any way. */
function orUndefined<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** f(), or undefined when the path or a directory above it is missing; other errors are thrown. */
function ifPresent<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
    throw e;
  }
}

function statOf(st: fs.Stats): FileStat {
  const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { kind, size: st.size, nlink: st.nlink, uid: st.uid, gid: st.gid, mode: st.mode, mtimeMs: st.mtimeMs };
}

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * A netns path is a bind mount of an nsfs inode (or a /proc/PID/ns/net link). After `ip netns del`
 * or a runtime's cleanup the path is gone or is a plain file on tmpfs, which is what
 * sriov-cni#447 had to learn the hard way; a /proc/PID/ns/net of an exited process is gone. A
 * namespace of another type reached through /proc (/proc/PID/ns/mnt, or a link to it) is not a
 * network namespace either: the kernel names a namespace file opened through /proc
 * "<type>:[inode]" in /proc/self/fd, which tells the type without entering it. (A bind mount shows
 * its own path there; its type would need the NS_GET_NSTYPE ioctl.) 'unknown': the path is there
 * but cannot be inspected (a /proc/PID/ns/net of a process in a user namespace, or an LSM).
 */
function netnsState(p: string): NetnsState {
  if (!p) return 'gone';
  let fd: number | undefined;
  try {
    const t = fs.statfsSync(p).type;
    if (t !== NSFS_MAGIC && !(t === PROC_SUPER_MAGIC && /\/ns\/net$/.test(p))) return 'gone';
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
    const name = fs.readlinkSync(`/proc/self/fd/${fd}`);
    return !/^[a-z_]+:\[\d+\]$/.test(name) || name.startsWith('net:[') ? 'live' : 'gone';
  } catch (e) {
    const code = errno(e);
    return code === 'EACCES' || code === 'EPERM' ? 'unknown' : 'gone';
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
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
  const st = orUndefined(() => fs.statSync(p));
  return st?.isFile() ? st.size : undefined;
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
  netnsState,
  lstat: (p) => ifPresent(() => statOf(fs.lstatSync(p))),
  stat: (p) => statOf(fs.statSync(p)),
  mkdir(p, mode) {
    fs.mkdirSync(p, mode);
  },
  open: (p, flags, mode) => fs.openSync(p, flags, mode),
  fstat: (fd) => statOf(fs.fstatSync(fd)),
  read: (fd, buf, off, len, pos) => fs.readSync(fd, buf, off, len, pos),
  write(fd, text) {
    const buf = Buffer.from(text, 'utf8');
    for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
  },
  close: (fd) => fs.closeSync(fd),
  readText: (p) => ifPresent(() => fs.readFileSync(p, 'utf8')),
  readlink: (p) => orUndefined(() => fs.readlinkSync(p)),
  readdir: (p) => orUndefined(() => fs.readdirSync(p)) ?? [],
  exists: (p) => fs.existsSync(p),
  isDir: (p) => orUndefined(() => fs.statSync(p).isDirectory()) ?? false,
  realpath: (p) => orUndefined(() => fs.realpathSync(p)),
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
