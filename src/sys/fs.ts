import * as fs from 'node:fs';
import * as path from 'node:path';
import { step } from './fault.js';

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
  /** Remove temp files of writeAtomic() whose writer is gone; returns how many. */
  sweepTmp(dir: string): number;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

let tmpSeq = 0;

/**
 * Temp files of writeAtomic() are `.<name>.<pidns>-<pid>.<seq>.tmp`. A writer killed between
 * creating one and renaming it (SIGKILL, OOM, node power loss) leaves it behind, so the next
 * write or removal in that directory sweeps the ones whose writer is provably gone: same PID
 * namespace and the PID no longer exists. A temp file from another PID namespace (a runtime in a
 * container) or of a reused PID is removed once it is older than STALE_TMP_MS: no live writer
 * keeps one that long (open, write, fsync, rename are one synchronous sequence).
 */
export const STALE_TMP_MS = 10 * 60_000;
// `.<name>.<pidns>-<pid>.<seq>.tmp`; the older `.<name>.<pid>.<seq>.tmp` form is judged by age only
const TMP_RE = /^\..+\.(?:(\d+)-)?(\d+)\.\d+\.tmp$/;
let pidNs: string | undefined;
/** Our PID namespace's inode number ('0' when /proc cannot say). */
function myPidNs(): string {
  if (pidNs === undefined) {
    try {
      pidNs = /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid', 'utf8'))?.[1] ?? '0';
    } catch {
      pidNs = '0';
    }
  }
  return pidNs;
}
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

export const realFs: Fs = {
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
    const dir = path.dirname(p);
    const tmp = path.join(dir, `.${path.basename(p)}.${myPidNs()}-${process.pid}.${++tmpSeq}.tmp`);
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
    realFs.sweepTmp(dir);
  },
  mkdirp(p, mode) {
    fs.mkdirSync(p, { recursive: true, mode });
  },
  remove(p) {
    let removed = false;
    try {
      fs.unlinkSync(p);
      removed = true;
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    realFs.sweepTmp(path.dirname(p));
    return removed;
  },
  sweepTmp(dir) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return 0;
    }
    let n = 0;
    const ns = myPidNs();
    for (const name of names) {
      const m = TMP_RE.exec(name);
      if (!m) continue;
      const file = path.join(dir, name);
      try {
        const gone = (m[1] === ns && ns !== '0' && !pidAlive(Number(m[2]))) || Date.now() - fs.lstatSync(file).mtimeMs > STALE_TMP_MS;
        if (gone) {
          fs.unlinkSync(file);
          n++;
        }
      } catch {
        /* raced with its writer or another sweeper: either way it is not ours to worry about */
      }
    }
    return n;
  },
};
