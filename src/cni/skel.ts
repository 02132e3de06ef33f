import { CniError, Code, toCniError } from './errors.js';
import { cut } from './quote.js';
import { parseCommand, parseEnv, type CmdArgs, type Command } from './env.js';
import { argsForIpam } from './cni-args.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, atLeast, isSupportedVersion, peekVersion } from './version.js';
import { formatResult, type Result } from './result.js';
import { MAX_STDIN } from './stdin.js';
import type { NetConf } from '../config/netconf.js';
import type { LogConf, Logger } from '../log/types.js';
import type { Host } from '../sys/host.js';
import { isSysError } from '../sys/errors.js';
import { ipamIsSelf, ipamIsSelfError, startedAsIpam, startedAsIpamError } from '../ipam/self.js';

export interface Ctx {
  args: CmdArgs;
  conf: NetConf;
  host: Host;
  log: Logger;
}
export type Handler = (ctx: Ctx) => Promise<Result | void>;

/** Which attachment a call is about (state/store.ts AttachmentKey). */
export interface CallKey {
  net: string;
  containerID: string;
  ifname: string;
}

/** The verbs, each loaded only when it runs (verbs/index.ts). */
export interface Handlers {
  ADD: () => Promise<Handler>;
  DEL: () => Promise<Handler>;
  CHECK: () => Promise<Handler>;
  GC: () => Promise<Handler>;
  STATUS: () => Promise<Handler>;
  /**
   * DEL whose netconf does not validate: the netconf ADD saved for this attachment, if any. DEL
   * must not strand a pod because its NetworkAttachmentDefinition was edited into an invalid form
   * (or a stricter release was rolled out) after ADD.
   */
  savedNetconf?: (host: Host, key: CallKey) => Promise<string | undefined>;
}

/** The Host of a call; with `log`, the programs it runs are logged at debug level. */
export type HostFactory = (env: NodeJS.ProcessEnv, log?: { level: string; logger: Logger }) => Host;
/** The netconf's logger (its logFile or stderr); `host` is undefined before one can be had. */
export type LoggerFactory = (conf: LogConf, host: Host | undefined, bound: Record<string, unknown>) => Logger;

/** Everything runCni uses from outside the protocol: main.ts wires the real ones, tests their own. */
export interface Collaborators {
  handlers: Handlers;
  host: HostFactory;
  logger: LoggerFactory;
  stdin: () => string;
  /** writes the answer; without it the caller writes Outcome.stdout itself */
  stdout?: (text: string) => void;
}

export interface Outcome {
  stdout: string;
  exitCode: number;
}

/** Minimum netconf cniVersion per command (the reference skel's gates). */
const MIN_VERSION: Partial<Record<Command, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

const PLUGIN = { plugin: 'dpdk-cni' };

/**
 * The CNI protocol: env + stdin in, one JSON document and an exit code out. Never throws.
 * Logs go to the logger (stderr or the netconf's logFile), never to stdout.
 */
export async function runCni(env: NodeJS.ProcessEnv, c: Collaborators): Promise<Outcome> {
  const call: Call = { version: CURRENT_VERSION };
  let out = await protocol(env, c, call);
  const log = call.log ?? c.logger({ logLevel: 'info' }, undefined, PLUGIN);
  if (c.stdout && out.stdout) out = delivered(out, c.stdout, log);
  log.close();
  return out;
}

/** What one call has learnt so far, for answering and logging an error at any step. */
interface Call {
  /** the version the error JSON is written in */
  version: string;
  log?: Logger;
  /** until the netconf is validated: a logger with what is known of the call */
  early?: () => Logger;
}

/** stdin read, decoded and the environment validated: the call before its netconf is checked. */
interface Input {
  command: Exclude<Command, 'VERSION'>;
  raw: string;
  json: unknown;
  args: CmdArgs;
  bound: Record<string, unknown>;
}

/** The validated netconf, with warnings to log once the netconf's logger is open. */
interface Loaded {
  conf: NetConf;
  notes: Array<[string, Record<string, unknown>]>;
}
/** DEL/GC of a netconf whose network name is invalid: why it is invalid. */
interface Nothing {
  nothing: string;
}

async function protocol(env: NodeJS.ProcessEnv, c: Collaborators, call: Call): Promise<Outcome> {
  try {
    if (startedAsIpam(env)) {
      // dpdk-cni ran a copy of itself as IPAM plugin: refuse before anything else (no recursion)
      call.version = stdinVersion(c.stdin) ?? call.version;
      throw startedAsIpamError();
    }
    const command = parseCommand(env.CNI_COMMAND);
    if (command === 'VERSION') return versionAnswer(c.stdin);
    const input = await readInput(command, env, c, call);
    const loaded = await loadConf(input, env, c);
    if ('nothing' in loaded) return nothingToRelease(input.command, loaded.nothing, call);
    return await dispatch(input, loaded, env, c, call);
  } catch (e) {
    return failure(e, c, call);
  }
}

/** The supported cniVersion stdin asks for, if it is readable JSON that names one. */
function stdinVersion(stdin: () => string): string | undefined {
  try {
    const v = peekVersion(JSON.parse(stdin() || '{}'));
    return v && isSupportedVersion(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function versionAnswer(stdin: () => string): Outcome {
  const cniVersion = stdinVersion(stdin) ?? CURRENT_VERSION;
  return { stdout: `${JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS })}\n`, exitCode: 0 };
}

/**
 * Read and decode stdin, then validate the environment. Env errors (4) come before stdin errors
 * (6), as in the reference skel; the error JSON still carries the netconf's version when stdin is
 * readable, and the call's early logger (call.early) knows what could be read.
 */
async function readInput(command: Input['command'], env: NodeJS.ProcessEnv, c: Collaborators, call: Call): Promise<Input> {
  const raw = c.stdin();
  // zod and the schema are loaded after VERSION has been answered: VERSION stays at Node's floor.
  const { decodeJson, logLevelOf } = await import('../config/netconf.js');
  let json: unknown;
  let undecodable: unknown;
  try {
    const big = tooLarge(raw);
    if (big) throw big;
    json = decodeJson(raw);
    const pv = peekVersion(json);
    if (pv && isSupportedVersion(pv)) call.version = pv;
  } catch (e) {
    undecodable = e;
  }
  const early = earlyContext(command, env, json, logLevelOf);
  call.early = () => c.logger(early.logConf, hostOf(c, env), early.bound);
  const args = parseEnv(command, env);
  if (undecodable !== undefined) throw undecodable;
  return { command, raw, json, args, bound: early.bound };
}

function tooLarge(raw: string): CniError | undefined {
  if (raw.length <= MAX_STDIN / 4 || Buffer.byteLength(raw) <= MAX_STDIN) return undefined;
  return new CniError(Code.InvalidConfig, `the network configuration on stdin is larger than 1 MiB (${MAX_STDIN} bytes), the most dpdk-cni accepts`);
}

/**
 * The netconf, validated. DEL falls back on the netconf ADD saved (Handlers.savedNetconf); DEL and
 * GC without one read it leniently (an ADD refused for its configuration). Nothing: DEL/GC of a
 * netconf whose network name is invalid, so nothing can have been allocated under it.
 */
async function loadConf(input: Input, env: NodeJS.ProcessEnv, c: Collaborators): Promise<Loaded | Nothing> {
  const { command, raw, json, args } = input;
  const { loadNetConf } = await import('../config/netconf.js');
  try {
    const addChecks = command === 'ADD' ? { containerId: args.containerId, ifName: args.ifName, argsMac: args.args.mac } : undefined;
    return { conf: loadNetConf(raw, json, addChecks), notes: [] };
  } catch (e) {
    const saved = command === 'DEL' ? await savedNetconf(input, env, c) : undefined;
    if (saved !== undefined) {
      return { conf: loadNetConf(saved), notes: [['the given netconf is invalid; DEL uses the one saved at ADD', { reason: (e as Error).message }]] };
    }
    if (command !== 'DEL' && command !== 'GC') throw e;
    const { loadLenientNetConf } = await import('../config/lenient.js');
    const l = loadLenientNetConf(raw, json, command, e);
    const why = `${(e as Error).message}${l.ignored.length > 0 ? ` (ignoring ${l.ignored.join(', ')})` : ''}`;
    if (!l.conf) return { nothing: why };
    return { conf: l.conf, notes: [[`the network configuration is invalid; ${command} goes on with the fields it needs that are valid`, { reason: why }]] };
  }
}

/** The netconf ADD saved for this attachment, when the given one names a network (never throws). */
async function savedNetconf(input: Input, env: NodeJS.ProcessEnv, c: Collaborators): Promise<string | undefined> {
  const { json, args } = input;
  const name = json && typeof json === 'object' ? (json as Record<string, unknown>).name : undefined;
  if (typeof name !== 'string' || !c.handlers.savedNetconf) return undefined;
  try {
    return await c.handlers.savedNetconf(c.host(env), { net: name, containerID: args.containerId, ifname: args.ifName });
  } catch {
    return undefined;
  }
}

/** DEL/GC of a netconf without a valid network name: logged, and a success. */
function nothingToRelease(command: Command, why: string, call: Call): Outcome {
  const log = (call.log = (call.early as () => Logger)());
  log.warn(`the network configuration is invalid; ${command} has nothing to release under an invalid network name`, { reason: why });
  return { stdout: '', exitCode: 0 };
}

/** Version gates, the netconf's logger, then the verb; ADD's result in the netconf's version. */
async function dispatch(input: Input, loaded: Loaded, env: NodeJS.ProcessEnv, c: Collaborators, call: Call): Promise<Outcome> {
  const { command, args } = input;
  let conf = loaded.conf;
  call.version = conf.cniVersion;
  const min = MIN_VERSION[command];
  if (min && !atLeast(conf.cniVersion, min)) {
    throw new CniError(Code.IncompatibleVersion, `config version ${conf.cniVersion} does not allow ${command} (needs >= ${min})`);
  }
  const selfIpam = conf.ipam !== undefined && ipamIsSelf(conf);
  if (selfIpam && command !== 'DEL' && command !== 'GC') throw ipamIsSelfError(conf.ipam?.type ?? '');
  // CNI_ARGS DEL/GC ignored in part: the IPAM plugin must not refuse them either (cni-args.ts)
  const callEnv = args.args.ignored ? { ...env, CNI_ARGS: argsForIpam(env.CNI_ARGS) } : env;
  const host = hostOf(c, callEnv);
  const log = (call.log = c.logger(conf, host, { ...input.bound, net: cut(conf.name) }));
  for (const [msg, fields] of loaded.notes) log.warn(msg, fields);
  if (args.args.ignored) log.warn(`CNI_ARGS is invalid; ${command} goes on without it`, { reason: args.args.ignored.join('; ') });
  if (selfIpam) {
    // nothing can have been allocated by it (ADD refuses it): DEL and GC skip it, so they succeed
    log.warn(`${ipamIsSelfError(conf.ipam?.type ?? '').message}; ${command} skips IPAM`);
    conf = { ...conf, ipam: undefined };
  }
  const handler = await c.handlers[command]();
  const result = await handler({ args, conf, host: c.host(callEnv, { level: conf.logLevel, logger: log }), log });
  if (command !== 'ADD') return { stdout: '', exitCode: 0 };
  if (!result) throw new CniError(Code.Internal, 'ADD produced no result');
  return { stdout: `${JSON.stringify(formatResult(result, conf.cniVersion))}\n`, exitCode: 0 };
}

/** The call's Host; a DPDK_CNI_ROOT that is not absolute is an environment error (4). */
function hostOf(c: Collaborators, env: NodeJS.ProcessEnv): Host {
  try {
    return c.host(env);
  } catch (e) {
    if (isSysError(e, 'invalid-root')) throw new CniError(Code.InvalidEnv, e.message);
    throw e;
  }
}

/** Log the error (with its stack when it is a bug) and answer with the error JSON, exit 1. */
function failure(e: unknown, c: Collaborators, call: Call): Outcome {
  const err = toCniError(e);
  if (!call.log) {
    try {
      call.log = call.early ? call.early() : c.logger({ logLevel: 'info' }, undefined, PLUGIN);
    } catch {
      call.log = c.logger({ logLevel: 'info' }, undefined, PLUGIN);
    }
  }
  if (err.code === Code.Internal) call.log.error('internal error', { err: e, stack: e instanceof Error ? e.stack : undefined });
  else call.log.error(err.message, { code: err.code });
  return { stdout: `${JSON.stringify({ cniVersion: call.version, code: err.code, msg: err.message, details: err.details })}\n`, exitCode: 1 };
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

/**
 * The call's context for log lines, read leniently before (or although) the environment and the
 * netconf are validated, so that an error about them is logged with what is known — and to the
 * netconf's logFile when that one is acceptable. Values are cut to 80 characters.
 */
function earlyContext(command: Command, env: NodeJS.ProcessEnv, json: unknown, logLevelOf: (v: unknown) => LogConf['logLevel']): { bound: Record<string, unknown>; logConf: LogConf } {
  const bound: Record<string, unknown> = { cmd: command, ...PLUGIN };
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
