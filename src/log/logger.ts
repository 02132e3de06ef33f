import { openSync, writeSync, closeSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import type { LogLevel } from '../config/netconf.js';

/**
 * Logger for the CNI hot path. It writes pino's line format (level numbers, time, pid, hostname,
 * msg, bound fields) so `pino-pretty` and any pino tooling read it, but it does not load pino:
 * pino costs ~10-15 ms of start-up on every pod start (measured, see docs/performance.md).
 * The human tools (install --sleep, doctor) use pino itself; see cli/log.ts.
 */
export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  close(): void;
}

const NUM: Record<LogLevel, number> = { error: 50, warn: 40, info: 30, debug: 20 };

class LineLogger implements Logger {
  constructor(
    private readonly fd: number,
    private readonly min: number,
    private readonly bound: Record<string, unknown>,
    private readonly owned: boolean,
  ) {}
  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    const n = NUM[level];
    if (n < this.min) return;
    const rec = { level: n, time: Date.now(), pid: process.pid, hostname: host(), ...this.bound, ...fields, msg: cap(msg, MAX_MSG) };
    try {
      writeSync(this.fd, `${JSON.stringify(rec, errReplacer)}\n`);
    } catch {
      /* logging must never break the plugin */
    }
  }
  error(msg: string, f?: Record<string, unknown>) { this.write('error', msg, f); }
  warn(msg: string, f?: Record<string, unknown>) { this.write('warn', msg, f); }
  info(msg: string, f?: Record<string, unknown>) { this.write('info', msg, f); }
  debug(msg: string, f?: Record<string, unknown>) { this.write('debug', msg, f); }
  child(fields: Record<string, unknown>): Logger {
    return new LineLogger(this.fd, this.min, { ...this.bound, ...fields }, false);
  }
  close(): void {
    if (this.owned) {
      try { closeSync(this.fd); } catch { /* already closed */ }
    }
  }
}

let hn: string | undefined;
function host(): string {
  return (hn ??= hostname());
}
/**
 * Values in messages are quoted with at most 80 characters (cni/quote.ts); as a backstop no string
 * in a line is longer than MAX_FIELD characters (MAX_MSG for msg), so a line stays well below the
 * 64 KiB that log/open.ts reads to recognise a dpdk-cni log.
 */
const MAX_FIELD = 1024;
const MAX_MSG = 8192;
function cap(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}...(${s.length} characters)` : s;
}
function errReplacer(k: string, v: unknown): unknown {
  if (v instanceof Error) return { type: v.name, message: cap(v.message, MAX_FIELD) };
  if (typeof v === 'string' && k !== 'msg') return cap(v, MAX_FIELD);
  return v;
}

/** stderr logger: CRI-O's journal and Multus' logs show it. */
export function stderrLogger(level: LogLevel = 'info', bound: Record<string, unknown> = {}): Logger {
  return new LineLogger(2, NUM[level], bound, false);
}

/** Append to a file the caller has already vetted (see config/paths.ts). Mode 0600 when created. */
export function fileLogger(path: string, level: LogLevel, bound: Record<string, unknown> = {}): Logger {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  return new LineLogger(fd, NUM[level], bound, true);
}

/** Append to a descriptor the caller opened and vetted (config/paths.ts openConfined); closed by close(). */
export function fdLogger(fd: number, level: LogLevel, bound: Record<string, unknown> = {}): Logger {
  return new LineLogger(fd, NUM[level], bound, true);
}

export const nullLogger: Logger = {
  error() {}, warn() {}, info() {}, debug() {},
  child() { return nullLogger; },
  close() {},
};
