import type { Host } from '../sys/host.js';
import { O, type Fs } from '../sys/fs.js';
import { quote } from '../cni/quote.js';
import { confine, LOG_DIR, makeParents, openConfined } from '../config/paths.js';
import { sinkLogger, stderrLogger, stderrSink, type Logger, type Sink } from './logger.js';
import type { LogConf } from './types.js';

export type { LogConf };

/** How much of a log file's start and end is read to recognise it as dpdk-cni's. */
export const PEEK_BYTES = 64 * 1024;

function isOurLine(line: string): boolean {
  try {
    const o = JSON.parse(line) as unknown;
    return typeof o === 'object' && o !== null && (o as Record<string, unknown>).plugin === 'dpdk-cni' && typeof (o as Record<string, unknown>).level === 'number';
  } catch {
    return false;
  }
}

function peek(fs: Fs, fd: number, pos: number, len: number): string {
  const buf = Buffer.alloc(len);
  let off = 0;
  while (off < len) {
    const n = fs.read(fd, buf, off, len - off, pos + off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off).toString('utf8');
}

/**
 * Why an open log file is not one dpdk-cni may append to, or undefined. Ours: an empty file owned
 * by our user with no permission for group or others (as dpdk-cni creates it, and as logrotate's
 * copytruncate or create leave it), or a file whose first and last lines are dpdk-cni's JSON log
 * lines (`"plugin":"dpdk-cni"` and a numeric `level`); after the last newline there may only be the
 * start of a line another call is writing (`{"level":`). Only the first and last 64 KiB are read: a
 * call costs two small reads whatever the file's size.
 */
export function foreignLog(fs: Fs, fd: number): string | undefined {
  const st = fs.fstat(fd);
  if (st.size === 0) {
    const uid = process.geteuid?.() ?? 0;
    if (st.uid !== uid) return `it is an empty file owned by uid ${st.uid}, not one dpdk-cni created`;
    if ((st.mode & 0o077) !== 0) return `it is an empty file with mode ${(st.mode & 0o777).toString(8)}, not one dpdk-cni created (0600)`;
    return undefined;
  }
  const head = peek(fs, fd, 0, Math.min(st.size, PEEK_BYTES));
  const nl = head.indexOf('\n');
  if (nl < 0 || !isOurLine(head.slice(0, nl))) return 'it is not a dpdk-cni log (its first line is not a dpdk-cni JSON log line)';
  const tailLen = Math.min(st.size, PEEK_BYTES);
  const tail = peek(fs, fd, st.size - tailLen, tailLen);
  const end = tail.lastIndexOf('\n');
  // a line another dpdk-cni call is writing right now may be incomplete: it must start like ours
  if (!tail.slice(end + 1).startsWith('{"level":') && end !== tail.length - 1) return 'it is not a dpdk-cni log (its last line is not a dpdk-cni JSON log line)';
  const start = tail.lastIndexOf('\n', end - 1);
  if ((start < 0 && tailLen < st.size) || !isOurLine(tail.slice(start + 1, end))) return 'it is not a dpdk-cni log (its last line is not a dpdk-cni JSON log line)';
  return undefined;
}

/**
 * The netconf's logFile or stderr. The netconf is written by namespace users and we run as root,
 * so the file must follow the path rules of config/paths.ts (under /var/log, no symlink below it,
 * a regular file with a single link) and be dpdk-cni's own (foreignLog: never auth.log or wtmp).
 * A logFile that is refused or cannot be opened never fails a command: the lines go to stderr,
 * after one warning naming the path and why (a NAD migrated from sriov-cni with /tmp/sriov.log
 * keeps working). The file is opened with O_APPEND for each call: logrotate's copytruncate works,
 * and so does rename-and-create (the next call opens the new file).
 */
export function openLogger(conf: LogConf, host: Host | undefined, bound: Record<string, unknown>, stderr: Sink = stderrSink): Logger {
  if (!conf.logFile || !host) return stderrLogger(conf.logLevel, bound, stderr);
  let why: string;
  try {
    const p = confine(host, conf.logFile, [LOG_DIR], 'logFile');
    makeParents(host, p, 'logFile', 0o755);
    const fs = host.fs;
    const fd = openConfined(fs, p, 'logFile', O.O_RDWR | O.O_APPEND | O.O_CREAT, 0o600) as number;
    let foreign: string | undefined;
    try {
      foreign = foreignLog(fs, fd);
    } catch (e) {
      foreign = (e as Error).message;
    }
    if (foreign === undefined) return sinkLogger({ write: (text) => fs.write(fd, text), close: () => fs.close(fd) }, conf.logLevel, bound);
    fs.close(fd);
    why = `logFile ${quote(conf.logFile)} is not allowed: ${foreign}`;
  } catch (e) {
    why = (e as Error).message;
    if (!why.includes('logFile')) why = `cannot open logFile ${quote(conf.logFile)}: ${why}`;
  }
  const l = stderrLogger(conf.logLevel, bound, stderr);
  l.warn(`logFile refused, logging to stderr: ${why}`);
  return l;
}
