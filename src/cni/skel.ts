import { readSync } from 'node:fs';
import { CniError, Code, toCniError } from './errors.js';
import { cut } from './quote.js';
import { parseCommand, parseEnv, type CmdArgs, type Command } from './env.js';
import { argsForIpam } from './cni-args.js';
import { NAME_RE } from '../config/names.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, atLeast, isSupportedVersion } from './version.js';
import { formatResult, type Result } from './result.js';
import type { NetConf } from '../config/netconf.js';
import type { LogConf } from '../log/open.js';
import { makeHost, type Host } from '../sys/host.js';
import { hostForLevel } from '../sys/exec-log.js';
import { loadState } from '../state/store.js';
import { stderrLogger, type Logger } from '../log/logger.js';
import { ipamIsSelf, ipamIsSelfError, startedAsIpam, startedAsIpamError } from '../ipam/self.js';

export interface Ctx {
  args: CmdArgs;
  conf: NetConf;
  host: Host;
  log: Logger;
}
export type Handler = (ctx: Ctx) => Promise<Result | void>;
export type Handlers = Record<Exclude<Command, 'VERSION'>, () => Promise<Handler>>;

export interface Outcome {
  stdout: string;
  exitCode: number;
}

function errorJson(e: CniError, cniVersion: string): string {
  return `${JSON.stringify({ cniVersion, code: e.code, msg: e.message, details: e.details })}\n`;
}

/** The largest netconf accepted on stdin (Multus' are a few KiB; a state file keeps a copy). */
export const MAX_STDIN = 1 << 20;

/** Read stdin, at most MAX_STDIN + 1 bytes (one more tells that it was too large). */
function readStdin(): string {
  // not zero-filled: only the bytes read are used (this runs on every pod start)
  const buf = Buffer.allocUnsafe(MAX_STDIN + 1);
  let off = 0;
  try {
    while (off < buf.length) {
      const n = readSync(0, buf, off, buf.length - off, null);
      if (n === 0) break;
      off += n;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // no stdin at all (closed / a TTY a human pressed ^D on) reads as empty
    if (code !== 'EAGAIN' && code !== 'EOF' && code !== 'ENXIO') {
      throw new CniError(Code.IoFailure, `could not read the network configuration from stdin: ${(e as Error).message}`);
    }
  }
  return buf.subarray(0, off).toString('utf8');
}

function tooLarge(raw: string): CniError | undefined {
  if (raw.length <= MAX_STDIN / 4 || Buffer.byteLength(raw) <= MAX_STDIN) return undefined;
  return new CniError(Code.InvalidConfig, `the network configuration on stdin is larger than 1 MiB (${MAX_STDIN} bytes), the most dpdk-cni accepts`);
}

/**
 * The call's context for log lines, read leniently before (or although) the environment and the
 * netconf are validated, so that an error about them is logged with what is known — and to the
 * netconf's logFile when that one is acceptable. Values are cut to 80 characters.
 */
function earlyContext(command: Command, env: NodeJS.ProcessEnv, json: unknown, logLevelOf: (v: unknown) => LogConf['logLevel']): { bound: Record<string, unknown>; logConf: LogConf } {
  const bound: Record<string, unknown> = { cmd: command, plugin: 'dpdk-cni' };
  const obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  if (typeof obj.name === 'string') bound.net = cut(obj.name);
  if (env.CNI_CONTAINERID) bound.containerID = cut(env.CNI_CONTAINERID);
  if (env.CNI_IFNAME) bound.ifname = cut(env.CNI_IFNAME);
  for (const part of (env.CNI_ARGS ?? '').split(';')) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq);
    if (k === 'K8S_POD_NAMESPACE') bound.podNamespace = cut(part.slice(eq + 1));
    if (k === 'K8S_POD_NAME') bound.podName = cut(part.slice(eq + 1));
  }
  const logConf: LogConf = { logLevel: logLevelOf(obj.logLevel) };
  if (typeof obj.logFile === 'string' && obj.logFile) logConf.logFile = obj.logFile;
  return { bound, logConf };
}

function peekVersion(json: unknown): string | undefined {
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const v = (json as Record<string, unknown>).cniVersion;
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/** The netconf saved by ADD for this attachment, if the given one names a network we know. */
function savedNetconf(env: NodeJS.ProcessEnv, json: unknown, args: CmdArgs): string | undefined {
  const name = json && typeof json === 'object' ? (json as Record<string, unknown>).name : undefined;
  if (typeof name !== 'string' || !NAME_RE.test(name)) return undefined;
  try {
    const host = makeHost(env);
    return loadState(host, { net: name, containerID: args.containerId, ifname: args.ifName })?.netconf;
  } catch {
    return undefined;
  }
}

/** Minimum netconf cniVersion per command (the reference skel's gates). */
const MIN_VERSION: Partial<Record<Command, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

/**
 * The CNI protocol: env + stdin in, one JSON document and an exit code out. Never throws.
 * Logs go to the logger (stderr or the netconf's logFile), never to stdout.
 */
export async function runCni(
  env: NodeJS.ProcessEnv,
  handlers: Handlers,
  stdin: () => string = readStdin,
  openLogger: (conf: LogConf, host: Host, bound: Record<string, unknown>) => Logger = (c, _h, b) => stderrLogger(c.logLevel, b),
  deliver?: (text: string) => void,
): Promise<Outcome> {
  const logs: { log?: Logger } = {};
  let out = await protocol(env, handlers, stdin, openLogger, logs);
  const log = logs.log ?? stderrLogger('info', { plugin: 'dpdk-cni' });
  if (deliver && out.stdout) out = delivered(out, deliver, log);
  log.close();
  return out;
}

/**
 * Write the answer; when it cannot be written (EPIPE: the caller is gone; ENOSPC: stdout is a full
 * file) say so in one log line — in the netconf's logFile when it has one, where the operator
 * looks — and exit 1: the caller got no result, so the call failed.
 */
function delivered(out: Outcome, deliver: (text: string) => void, log: Logger): Outcome {
  try {
    deliver(out.stdout);
    return out;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const what = out.exitCode === 0 ? 'the CNI result' : 'the CNI error';
    log.error(`${what} could not be delivered: writing it to stdout failed (${code}); is the caller (the container runtime) gone or its stdout unusable? The runtime sees this call as failed`, { errno: code });
    return { stdout: '', exitCode: 1 };
  }
}

async function protocol(
  env: NodeJS.ProcessEnv,
  handlers: Handlers,
  stdin: () => string,
  openLogger: (conf: LogConf, host: Host, bound: Record<string, unknown>) => Logger,
  logs: { log?: Logger },
): Promise<Outcome> {
  let version: string = CURRENT_VERSION;
  let log: Logger | undefined;
  // until the netconf is validated: what is known of the call, for logging an early error
  let early: (() => Logger) | undefined;
  try {
    if (startedAsIpam(env)) {
      // dpdk-cni ran a copy of itself as IPAM plugin: refuse before anything else (no recursion)
      try {
        const v = peekVersion(JSON.parse(stdin() || '{}'));
        if (v && isSupportedVersion(v)) version = v;
      } catch {
        /* the error keeps the default version */
      }
      throw startedAsIpamError();
    }
    const command = parseCommand(env.CNI_COMMAND);
    if (command === 'VERSION') {
      let v: string | undefined;
      try {
        v = peekVersion(JSON.parse(stdin() || '{}'));
      } catch {
        v = undefined;
      }
      return {
        stdout: `${JSON.stringify({ cniVersion: v && isSupportedVersion(v) ? v : CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`,
        exitCode: 0,
      };
    }
    const raw = stdin();
    // zod and the schema are loaded after VERSION has been answered: VERSION stays at Node's floor.
    const { decodeJson, loadNetConf, logLevelOf } = await import('../config/netconf.js');
    // Env errors (4) come before stdin errors (6), as in the reference skel; the error JSON still
    // carries the netconf's version when stdin is readable.
    let json: unknown;
    let undecodable: unknown;
    try {
      const big = tooLarge(raw);
      if (big) throw big;
      json = decodeJson(raw);
      const pv = peekVersion(json);
      if (pv && isSupportedVersion(pv)) version = pv;
    } catch (e) {
      undecodable = e;
    }
    const ctx = earlyContext(command, env, json, logLevelOf);
    early = () => openLogger(ctx.logConf, makeHost(env), ctx.bound);
    const args = parseEnv(command, env);
    if (undecodable !== undefined) throw undecodable;
    let conf: NetConf;
    let recovered = '';
    let lenient: string | undefined;
    try {
      conf = loadNetConf(raw, json, command === 'ADD' ? { containerId: args.containerId, ifName: args.ifName, argsMac: args.args.mac } : undefined);
    } catch (e) {
      // DEL must not strand a pod because its NetworkAttachmentDefinition was edited into an
      // invalid form (or a stricter release was rolled out) after ADD: use the netconf ADD saved.
      const saved = command === 'DEL' ? savedNetconf(env, json, args) : undefined;
      if (saved !== undefined) {
        conf = loadNetConf(saved);
        recovered = (e as Error).message;
      } else if (command === 'DEL' || command === 'GC') {
        // nothing saved: what DEL and GC need, read leniently (an ADD refused for its configuration)
        const { loadLenientNetConf } = await import('../config/lenient.js');
        const l = loadLenientNetConf(raw, json, command, e);
        const why = `${(e as Error).message}${l.ignored.length > 0 ? ` (ignoring ${l.ignored.join(', ')})` : ''}`;
        if (!l.conf) {
          log = logs.log = early();
          log.warn(`the network configuration is invalid; ${command} has nothing to release under an invalid network name`, { reason: why });
          return { stdout: '', exitCode: 0 };
        }
        conf = l.conf;
        lenient = why;
      } else throw e;
    }
    version = conf.cniVersion;
    const min = MIN_VERSION[command];
    if (min && !atLeast(conf.cniVersion, min)) {
      throw new CniError(Code.IncompatibleVersion, `config version ${conf.cniVersion} does not allow ${command} (needs >= ${min})`);
    }
    const selfIpam = conf.ipam !== undefined && ipamIsSelf(conf);
    if (selfIpam && command !== 'DEL' && command !== 'GC') throw ipamIsSelfError(conf.ipam?.type ?? '');
    // CNI_ARGS DEL/GC ignored in part: the IPAM plugin must not refuse them either (cni-args.ts)
    const host = makeHost(args.args.ignored ? { ...env, CNI_ARGS: argsForIpam(env.CNI_ARGS) } : env);
    const bound: Record<string, unknown> = { ...ctx.bound, net: cut(conf.name) };
    log = logs.log = openLogger(conf, host, bound);
    if (recovered) log.warn('the given netconf is invalid; DEL uses the one saved at ADD', { reason: recovered });
    if (lenient) log.warn(`the network configuration is invalid; ${command} goes on with the fields it needs that are valid`, { reason: lenient });
    if (args.args.ignored) log.warn(`CNI_ARGS is invalid; ${command} goes on without it`, { reason: args.args.ignored.join('; ') });
    if (selfIpam) {
      // nothing can have been allocated by it (ADD refuses it): DEL and GC skip it, so they succeed
      log.warn(`${ipamIsSelfError(conf.ipam?.type ?? '').message}; ${command} skips IPAM`);
      conf = { ...conf, ipam: undefined };
    }
    const handler = await handlers[command]();
    const result = await handler({ args, conf, host: hostForLevel(host, conf.logLevel, log), log });
    if (command === 'ADD') {
      if (!result) throw new CniError(Code.Internal, 'ADD produced no result');
      return { stdout: `${JSON.stringify(formatResult(result, conf.cniVersion))}\n`, exitCode: 0 };
    }
    return { stdout: '', exitCode: 0 };
  } catch (e) {
    const err = toCniError(e);
    if (!log) {
      try {
        log = early ? early() : stderrLogger('info', { plugin: 'dpdk-cni' });
      } catch {
        log = stderrLogger('info', { plugin: 'dpdk-cni' });
      }
    }
    logs.log = log;
    if (err.code === Code.Internal) {
      log.error('internal error', { err: e, stack: e instanceof Error ? e.stack : undefined });
    } else {
      log.error(err.message, { code: err.code });
    }
    return { stdout: errorJson(err, version), exitCode: 1 };
  }
}
