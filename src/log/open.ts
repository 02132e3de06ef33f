import { constants } from 'node:fs';
import type { NetConf } from '../config/netconf.js';
import type { Host } from '../sys/host.js';
import { CniError, Code } from '../cni/errors.js';
import { confine, LOG_DIR, makeParents, openConfined } from '../config/paths.js';
import { fdLogger, stderrLogger, type Logger } from './logger.js';

/**
 * The netconf's logFile or stderr. The netconf is written by namespace users and we run as root,
 * so the file must follow the path rules of config/paths.ts: under /var/log, no symlink below it,
 * a regular file with a single link (never a symlink or hard link to /etc/passwd). A refused
 * logFile is a configuration error (code 7) for ADD, CHECK and STATUS; DEL and GC must be able to
 * release what exists whatever the configuration says, so they warn on stderr and go on. A
 * permitted file that cannot be opened (permissions, disk full) falls back to stderr with a warning.
 * The file is opened with O_APPEND for each call: logrotate's copytruncate works, and so does
 * rename-and-create (the next call opens the new file).
 */
export function openLogger(conf: NetConf, host: Host, bound: Record<string, unknown>): Logger {
  if (!conf.logFile) return stderrLogger(conf.logLevel, bound);
  try {
    const p = confine(host, conf.logFile, [LOG_DIR], 'logFile');
    makeParents(p, 'logFile', 0o755);
    const fd = openConfined(p, 'logFile', constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600) as number;
    return fdLogger(fd, conf.logLevel, bound);
  } catch (e) {
    const refused = e instanceof CniError && e.code === Code.InvalidConfig;
    if (refused && bound.cmd !== 'DEL' && bound.cmd !== 'GC') throw e;
    const l = stderrLogger(conf.logLevel, bound);
    l.warn(`${refused ? 'logFile refused' : `cannot open logFile ${conf.logFile}`}, logging to stderr: ${(e as Error).message}`);
    return l;
  }
}
