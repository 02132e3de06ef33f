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
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

let tmpSeq = 0;

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
    const tmp = path.join(dir, `.${path.basename(p)}.${process.pid}.${++tmpSeq}.tmp`);
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
  remove(p) {
    try {
      fs.unlinkSync(p);
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw e;
    }
  },
};
