import { hostname } from 'node:os';
import type { LogLevel } from '../config/netconf.js';
import type { Logger } from './types.js';
import { writeOnce } from '../sys/stdout.js';

export type { Logger };

/** Where a logger's lines go: a descriptor (stderr, a log file) or, in tests, a buffer. */
export interface Sink {
  write(text: string): void;
  /** the logger is done: a file it owns is closed */
  close(): void;
}

const NUM: Record<LogLevel, number> = { error: 50, warn: 40, info: 30, debug: 20 };

/**
 * Logger for the CNI hot path. It writes pino's line format (level numbers, time, pid, hostname,
 * msg, bound fields) so `pino-pretty` and any pino tooling read it, but it does not load pino:
 * pino costs ~10-15 ms of start-up on every pod start (measured, see docs/performance.md).
 */
class LineLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly min: number,
    private readonly bound: Record<string, unknown>,
  ) {}
  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    const n = NUM[level];
    if (n < this.min) return;
    const rec = { level: n, time: Date.now(), pid: process.pid, hostname: host(), ...this.bound, ...fields, msg: cap(msg, MAX_MSG) };
    try {
      this.sink.write(`${JSON.stringify(rec, errReplacer)}\n`);
    } catch {
      /* logging must never break the plugin */
    }
  }
  error(msg: string, f?: Record<string, unknown>) { this.write('error', msg, f); }
  warn(msg: string, f?: Record<string, unknown>) { this.write('warn', msg, f); }
  info(msg: string, f?: Record<string, unknown>) { this.write('info', msg, f); }
  debug(msg: string, f?: Record<string, unknown>) { this.write('debug', msg, f); }
  close(): void {
    try { this.sink.close(); } catch { /* already closed */ }
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

/** stderr logger: CRI-O's journal and Multus' logs show it. `sink` is stderr unless a test captures it. */
export function stderrLogger(level: LogLevel = 'info', bound: Record<string, unknown> = {}, sink: Sink = stderrSink): Logger {
  return new LineLogger(sink, NUM[level], bound);
}

/** A logger writing to `sink` (log/open.ts: the vetted logFile's descriptor, closed by close()). */
export function sinkLogger(sink: Sink, level: LogLevel, bound: Record<string, unknown> = {}): Logger {
  return new LineLogger(sink, NUM[level], bound);
}

/** fd 2, never closed. */
export const stderrSink: Sink = { write: (text) => writeOnce(2, text), close: () => undefined };

export const nullLogger: Logger = {
  error() {}, warn() {}, info() {}, debug() {},
  close() {},
};
