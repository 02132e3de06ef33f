import * as path from 'node:path';
import { CniError, Code } from '../cni/errors.js';
import { quote } from '../cni/quote.js';
import type { Host } from '../sys/host.js';
import { O, type FileStat, type Fs } from '../sys/fs.js';

export const LOG_DIR = '/var/log';
export const DEVINFO_DIRS = ['/var/run/k8s.cni.cncf.io/devinfo', '/run/k8s.cni.cncf.io/devinfo'];
export const PATH_MAX = 4095;
const NAME_MAX = 255;

function refuse(field: string, p: string, why: string): CniError {
  return new CniError(Code.InvalidConfig, `${field} ${quote(p)} is not allowed: ${why}`);
}

function clean(p: string, field: string): string {
  if (p.includes('\0')) throw new CniError(Code.InvalidConfig, `${field} contains a NUL byte`);
  if (!p.startsWith('/')) throw new CniError(Code.InvalidConfig, `${field} ${quote(p)} must be an absolute path`);
  if (Buffer.byteLength(p) > PATH_MAX) throw new CniError(Code.InvalidConfig, `${field} is longer than ${PATH_MAX} bytes`);
  const segs = p.split('/');
  if (segs.some((s) => s === '..' || s === '.')) {
    throw new CniError(Code.InvalidConfig, `${field} ${quote(p)} must not contain "." or ".." segments`);
  }
  if (segs.some((s) => Buffer.byteLength(s) > NAME_MAX)) throw refuse(field, p, `a path segment is longer than ${NAME_MAX} bytes`);
  return path.posix.normalize(p);
}

/** The syntax rules alone (absolute, no NUL, no "." or "..", lengths): why `p` breaks them, or undefined. Pure. */
export function syntaxProblem(p: string, field: string): string | undefined {
  try {
    clean(p, field);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Why a file that exists must not be opened, or undefined: a symlink could point at /etc/shadow, a
 * hard link is another name of a file elsewhere on the same filesystem, a FIFO or device is a read
 * that never ends or a write that goes elsewhere.
 */
function badFile(st: FileStat): string | undefined {
  if (st.kind === 'symlink') return 'it is a symbolic link';
  if (st.kind !== 'file') return 'it exists and is not a regular file';
  if (st.nlink > 1) return `it has ${st.nlink} hard links (it may be another name of a file outside the directory)`;
  return undefined;
}

/**
 * Resolve `p` (a path on the node, from a netconf a namespace user wrote; we run as root) under
 * one of `bases` and return the path to use under the host root. Changes nothing. The rules
 * (docs/security.md), each a configuration error (7) naming the field: absolute, no NUL, no "."
 * or ".." segment, at most PATH_MAX bytes and NAME_MAX per segment; strictly below a base, which
 * may be reached through symlinks the node set up (/var/run -> /run), while everything below it
 * is named by the netconf and must be real directories; the file, when it exists, passes badFile.
 */
export function confine(host: Host, p: string, bases: readonly string[], field: string): string {
  const c = clean(p, field);
  const base = bases.find((b) => c.startsWith(`${b}/`) && c.length > b.length + 1);
  if (!base) {
    throw new CniError(Code.InvalidConfig, `${field} ${quote(p)} is not allowed: it must be a file under ${bases.join(' or ')}`);
  }
  const baseDir = host.p(base);
  const realBase = host.fs.realpath(baseDir);
  const rest = c.slice(base.length + 1).split('/');
  const name = rest.pop() as string;
  let dir = realBase ?? baseDir;
  let present = realBase !== undefined;
  for (const seg of rest) {
    dir = path.posix.join(dir, seg);
    if (!present) continue;
    const st = host.fs.lstat(dir);
    if (!st) present = false;
    else if (st.kind === 'symlink') {
      const to = host.fs.realpath(dir);
      const outside = !to || !realBase || !(to === realBase || to.startsWith(`${realBase}/`));
      throw refuse(field, p, outside ? `its directory resolves outside ${base} (symlink?)` : `"${seg}" is a symbolic link; below ${base} only real directories are followed`);
    }
    else if (st.kind !== 'dir') throw refuse(field, p, `"${seg}" is not a directory`);
  }
  const file = path.posix.join(dir, name);
  const st = present ? host.fs.lstat(file) : undefined;
  const bad = st && badFile(st);
  if (bad) throw refuse(field, p, bad);
  return file;
}

/**
 * Create the missing directories above a confined file (mode `dirMode`), one at a time, only when
 * something is about to be written there; a
 * directory that turns out to be anything but a real directory is refused (code 7).
 */
export function makeParents(host: Host, file: string, field: string, dirMode: number): void {
  const fs = host.fs;
  const missing: string[] = [];
  for (let d = path.posix.dirname(file); !fs.lstat(d); d = path.posix.dirname(d)) {
    missing.unshift(d);
    if (d === '/') break;
  }
  for (const d of missing) {
    try {
      fs.mkdir(d, dirMode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = fs.lstat(d);
    if (st?.kind !== 'dir') throw refuse(field, file, `${d} was replaced by something that is not a directory`);
  }
}

/**
 * Open a confined file; the rules are checked again on the descriptor (O_NOFOLLOW, fstat), so
 * swapping the file between the check and the open does not help. Returns undefined when it does
 * not exist (and `flags` lacks O_CREAT).
 */
export function openConfined(fs: Fs, file: string, field: string, flags: number, mode = 0o600): number | undefined {
  let fd: number;
  try {
    // (libuv opens with O_CLOEXEC: the descriptor never reaches an IPAM plugin or ip)
    fd = fs.open(file, flags | O.O_NOFOLLOW | O.O_NONBLOCK, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refuse(field, file, 'it is a symbolic link');
    if (code === 'ENXIO') throw refuse(field, file, 'it exists and is not a regular file');
    throw e;
  }
  try {
    const bad = badFile(fs.fstat(fd));
    if (bad) throw refuse(field, file, bad);
  } catch (e) {
    fs.close(fd);
    throw e;
  }
  return fd;
}

/** Read a confined file (at most `maxBytes`); undefined when it does not exist. */
export function readConfined(fs: Fs, file: string, field: string, maxBytes = 1 << 20): string | undefined {
  const fd = openConfined(fs, file, field, O.O_RDONLY);
  if (fd === undefined) return undefined;
  try {
    const size = fs.fstat(fd).size;
    if (size > maxBytes) throw refuse(field, file, `it is larger than ${maxBytes} bytes`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = fs.read(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    fs.close(fd);
  }
}
