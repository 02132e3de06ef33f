import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Files an operator asks a node tool to write (`dp-config --write`): what is at the path now, and
 * an atomic replacement that several writers may run at once. Unlike writeAtomic() (sys/fs.ts),
 * whose one temp name per file relies on the device lock, every writer here gets its own temp name
 * `.<name>.<pid>.<random>.tmp`; the last rename wins and no writer fails on another's temp file.
 */
export type Existing =
  | { kind: 'missing' }
  | { kind: 'symlink'; target: string }
  | { kind: 'other'; what: string }
  | { kind: 'file'; text: string; size: number; /** permission bits (st_mode & 0o7777) */ mode: number };

const MAX_READ = 1 << 20;

export function existing(p: string): Existing {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw e;
  }
  if (st.isSymbolicLink()) return { kind: 'symlink', target: fs.readlinkSync(p) };
  if (st.isDirectory()) return { kind: 'other', what: 'a directory' };
  if (!st.isFile()) return { kind: 'other', what: 'not a regular file' };
  if (st.size > MAX_READ) return { kind: 'file', text: '', size: st.size, mode: st.mode & 0o7777 };
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    return { kind: 'file', text: fs.readFileSync(fd, 'utf8'), size: st.size, mode: st.mode & 0o7777 };
  } finally {
    fs.closeSync(fd);
  }
}

const STALE_MS = 10 * 60 * 1000;

export function tmpPrefixOf(p: string): string {
  return `.${path.basename(p)}.`;
}

/** Temp files `<prefix>*.tmp` beside `p` that a killed writer left, judged by age (a live writer's is seconds old). */
function sweep(p: string, prefix: string): void {
  const dir = path.dirname(p);
  for (const e of fs.readdirSync(dir)) {
    if (!e.startsWith(prefix) || !e.endsWith('.tmp')) continue;
    try {
      if (Date.now() - fs.lstatSync(path.join(dir, e)).mtimeMs > STALE_MS) fs.rmSync(path.join(dir, e), { force: true });
    } catch {
      /* raced with its owner */
    }
  }
}

/** What replaceAtomic writes: a text, or a copy of a file (read in chunks: the single executable is ~110 MB). */
export type Content = string | { copyOf: string };

const CHUNK = 1 << 20;

function copyInto(fd: number, src: string): void {
  const inp = fs.openSync(src, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(inp, buf, 0, CHUNK, null);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += fs.writeSync(fd, buf, off, n - off);
    }
  } finally {
    fs.closeSync(inp);
  }
}

/**
 * temp file (unique name `<prefix><pid>.<random>.tmp`, O_EXCL) + fsync + rename over `p` + fsync of
 * the directory. `prefix` defaults to `.<name>.`; stale temp files with the same prefix are swept first.
 */
export function replaceAtomic(p: string, data: Content, mode: number, prefix = tmpPrefixOf(p)): void {
  const dir = path.dirname(p);
  sweep(p, prefix);
  const tmp = path.join(dir, `${prefix}${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else copyInto(fd, data.copyOf);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, p);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const d = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    /* some filesystems refuse fsync on a directory; the rename already happened */
  }
}
