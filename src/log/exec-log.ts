import { cut } from '../cni/quote.js';
import type { Logger } from './logger.js';
import type { Host } from '../sys/host.js';
import type { Exec } from '../sys/exec.js';

/**
 * logLevel "debug": every program run through host.exec (ip, nsenter, vdpa) is logged with its
 * arguments, the commands it got on stdin (`ip -batch -`) and its exit status, each value cut by
 * cni/quote.ts. Only installed at debug level: at any other level host.exec is the bare function,
 * so no string is built and nothing is wrapped.
 */
export function loggedExec(exec: Exec, log: Logger): Exec {
  return (file, args, opts) => {
    const r = exec(file, args, opts);
    const fields: Record<string, unknown> = { run: [file, ...args].map((a) => cut(a)).join(' '), exit: r.code };
    if (opts?.input) fields.input = opts.input.split('\n').filter((l) => l !== '').map((l) => cut(l));
    if (r.code !== 0 && r.stderr) fields.stderr = cut(r.stderr.trim(), 400);
    log.debug('ran', fields);
    return r;
  };
}

/** The host to run a command with: its exec logged when `log` is at debug level, else unchanged. */
export function withExecLog(host: Host, log?: { level: string; logger: Logger }): Host {
  return log?.level === 'debug' ? { ...host, exec: loggedExec(host.exec, log.logger) } : host;
}
