import type { NetConf } from '../config/netconf.js';
import type { Host } from '../sys/host.js';
import { confine, LOG_DIR } from '../config/paths.js';
import { fileLogger, stderrLogger, type Logger } from './logger.js';

/**
 * The netconf's logFile or stderr. A logFile outside /var/log (or reached through a symlink that
 * leads outside) is a configuration error (code 7): the netconf is written by namespace users and
 * we run as root. A permitted file that cannot be opened falls back to stderr with a warning.
 */
export function openLogger(conf: NetConf, host: Host, bound: Record<string, unknown>): Logger {
  if (!conf.logFile) return stderrLogger(conf.logLevel, bound);
  const p = confine(host, conf.logFile, [LOG_DIR], 'logFile', 0o755);
  try {
    return fileLogger(p, conf.logLevel, bound);
  } catch (e) {
    const l = stderrLogger(conf.logLevel, bound);
    l.warn(`cannot open logFile ${conf.logFile}, logging to stderr: ${(e as Error).message}`);
    return l;
  }
}
