import type { LogLevel } from '../config/netconf.js';

/** A line logger (log/logger.ts); the protocol and the verbs log through it. */
export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  close(): void;
}

/** What the logger needs from the netconf (also read leniently from a netconf that failed validation). */
export interface LogConf {
  logFile?: string;
  logLevel: LogLevel;
}
