import { cut, quote } from '../cni/quote.js';
import * as path from 'node:path';
import { CniError, Code } from '../cni/errors.js';
import type { CmdArgs } from '../cni/env.js';
import { formatResult, parseResult, type Result } from '../cni/result.js';
import { atLeast, compareVersions } from '../cni/version.js';
import type { Host } from '../sys/host.js';
import { realFs, type FileStat, type Fs } from '../sys/fs.js';
import { ipamAnswer } from './answer.js';
import { IPAM_CHILD_ENV } from './self.js';

export type IpamCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

const EUID = process.geteuid?.() ?? 0;

/** Why a file or directory could be changed by someone other than root (or us), or undefined. */
function writableByOthers(st: FileStat, stickyOk: boolean): string | undefined {
  if (st.uid !== 0 && st.uid !== EUID) return `owned by uid ${st.uid}`;
  const sticky = stickyOk && (st.mode & 0o1000) !== 0;
  if (st.mode & 0o002 && !sticky) return 'writable by everyone';
  if (st.mode & 0o020 && st.gid !== 0 && !sticky) return `writable by group ${st.gid}`;
  return undefined;
}

function realpathOf(fs: Fs, p: string): string {
  const r = fs.realpath(p);
  if (r === undefined) throw new Error(`${p} cannot be resolved (missing, or a broken symlink)`);
  return r;
}

function chain(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.posix.normalize(dir); ; d = path.posix.dirname(d)) {
    out.push(d);
    if (d === '/') return out;
  }
}

/**
 * A plugin we run as root must be a regular file that only root can change, in directories only
 * root can change — the CNI_PATH entry as given, its real path and the real file's directory, and
 * every directory above them (sticky ones like /tmp allowed above, not as the plugin's own
 * directory). Otherwise anyone who can write there chooses what runs as root. Returns why not.
 */
export function untrustedPlugin(dir: string, file: string, fs: Fs = realFs): string | undefined {
  try {
    const real = realpathOf(fs, file);
    const st = fs.stat(real);
    if (st.kind !== 'file') return `${real} is not a regular file`;
    const w = writableByOthers(st, false);
    if (w) return `${real} is ${w}`;
    const own = new Set([path.posix.normalize(dir), realpathOf(fs, dir), path.posix.dirname(real)]);
    const dirs = new Set([...own].flatMap(chain));
    for (const d of dirs) {
      const why = writableByOthers(fs.stat(d), !own.has(d));
      if (why) return `${d} is ${why}`;
    }
    return undefined;
  } catch (e) {
    return `it cannot be checked: ${(e as Error).message}`;
  }
}

/**
 * The same rule for a directory plugins are installed into (`dpdk-cni install --target`): the
 * directory as given and its real path owned by root (or us) and writable by nobody else, every
 * directory above them too (sticky ones allowed above). Returns why not.
 */
export function untrustedDir(dir: string, fs: Fs = realFs): string | undefined {
  try {
    const own = new Set([path.posix.normalize(dir), realpathOf(fs, dir)]);
    for (const d of new Set([...own].flatMap(chain))) {
      const why = writableByOthers(fs.stat(d), !own.has(d));
      if (why) return `${d} is ${why}`;
    }
    return undefined;
  } catch (e) {
    return `it cannot be checked: ${(e as Error).message}`;
  }
}

/**
 * The plugin file for `type` in CNI_PATH (the name was checked to be a plain file name; relative
 * CNI_PATH entries are ignored, see cni/env.ts); entries others than root can change are skipped
 * (untrustedPlugin) and named in the error when nothing else is found.
 */
export function findPlugin(host: Host, type: string, path: readonly string[]): string {
  const refused: string[] = [];
  for (const dir of path) {
    const p = `${dir}/${type}`;
    if (!host.fs.exists(p) || host.fs.isDir(p)) continue;
    const why = untrustedPlugin(dir, p, host.fs);
    if (!why) return p;
    refused.push(`${p} (${why})`);
  }
  if (refused.length > 0) {
    throw new CniError(Code.InvalidEnv, `IPAM plugin ${quote(type)} is not run from CNI_PATH entries that others than root can change: ${refused.join('; ')}`);
  }
  throw new CniError(Code.IpamFailed, `IPAM plugin ${quote(type)} not found in CNI_PATH (${cut(path.join(':'), 512) || 'empty'}): install it next to dpdk-cni`);
}

interface Raw {
  code: number;
  stdout: string;
  stderr: string;
  err?: { code?: number; msg?: string; details?: string };
}

/** How long one IPAM call may take (node admin's environment, like DPDK_CNI_LOCK_TIMEOUT_MS). */
export function ipamTimeoutMs(env: NodeJS.ProcessEnv): number {
  const n = Number(env.DPDK_CNI_IPAM_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 60_000;
}
/** Between SIGTERM and SIGKILL to a plugin's process group. */
export const IPAM_KILL_GRACE_MS = 5_000;
/** An IPAM answer is a few hundred bytes; more than this is not one. */
export const IPAM_MAX_OUTPUT = 1024 * 1024;

async function run(host: Host, file: string, type: string, command: IpamCommand | 'VERSION', stdin: string): Promise<Raw> {
  // IPAM_CHILD_ENV: a copy of dpdk-cni run as IPAM plugin refuses at once (ipam/self.ts)
  const env: NodeJS.ProcessEnv = { ...host.env, CNI_COMMAND: command, [IPAM_CHILD_ENV]: '1' };
  if (command === 'GC' || command === 'STATUS' || command === 'VERSION') {
    delete env.CNI_CONTAINERID;
    delete env.CNI_IFNAME;
    delete env.CNI_NETNS;
  }
  const timeoutMs = ipamTimeoutMs(host.env);
  const r = await host.execBounded(file, [], { input: stdin, env, timeoutMs, killGraceMs: IPAM_KILL_GRACE_MS, maxStdout: IPAM_MAX_OUTPUT });
  if (r.stopped === 'timeout') {
    throw new CniError(
      Code.IpamFailed,
      `IPAM plugin ${type} ${command} did not finish within ${timeoutMs} ms and was stopped (SIGTERM, then SIGKILL, to it and every process it started): check the IPAM plugin (its log, its daemon or data store), or raise DPDK_CNI_IPAM_TIMEOUT_MS on the node`,
    );
  }
  if (r.stopped === 'output') {
    throw new CniError(Code.IpamFailed, `IPAM plugin ${type} ${command} wrote more than ${IPAM_MAX_OUTPUT} bytes to stdout and was stopped: that is not a CNI result; check the IPAM plugin`);
  }
  const out: Raw = { code: r.code, stdout: r.stdout, stderr: r.stderr };
  if (r.code !== 0) {
    try {
      out.err = JSON.parse(r.stdout) as Raw['err'];
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** The highest version the IPAM plugin and we both speak that is <= the netconf's. */
async function negotiate(host: Host, file: string, type: string, want: string): Promise<string | undefined> {
  const r = await run(host, file, type, 'VERSION', JSON.stringify({ cniVersion: want }));
  if (r.code !== 0) return undefined;
  try {
    const sv = (JSON.parse(r.stdout) as { supportedVersions?: string[] }).supportedVersions ?? [];
    return sv.filter((v) => compareVersions(v, want) <= 0 && atLeast(v, '0.3.0')).sort(compareVersions).pop();
  } catch {
    return undefined;
  }
}

function withVersion(stdin: string, v: string): string {
  const o = JSON.parse(stdin) as Record<string, unknown>;
  o.cniVersion = v;
  // a prevResult is written in the original version: CHECK needs it (static IPAM refuses CHECK
  // without one), so it is converted to the version the plugin speaks
  if (o.prevResult !== undefined) {
    try {
      o.prevResult = formatResult(parseResult(o.prevResult, 'prevResult'), v);
    } catch {
      delete o.prevResult;
    }
  }
  return JSON.stringify(o);
}

const refusals = new WeakSet<CniError>();

function fail(type: string, command: string, r: Raw): CniError {
  const msg = r.err?.msg ? `${r.err.msg}${r.err.code !== undefined ? ` (code ${r.err.code})` : ''}` : r.stderr.trim() || `exit code ${r.code}`;
  const e = new CniError(Code.IpamFailed, `IPAM plugin ${type} ${command} failed: ${msg}`, r.err?.details ?? '');
  if (typeof r.err?.msg === 'string') refusals.add(e);
  return e;
}

/**
 * The plugin ran and refused with a CNI error of its own (it cleans up after itself, per the spec).
 * Anything else — killed on timeout, too much output, garbage, an unusable answer, a crash — may
 * have left an allocation behind.
 */
export function ipamRefused(e: unknown): boolean {
  return e instanceof CniError && refusals.has(e);
}

/** The plugin's supportedVersions, or [] when it cannot say. */
async function supported(host: Host, file: string, type: string): Promise<string[]> {
  const r = await run(host, file, type, 'VERSION', '{"cniVersion":"1.1.0"}');
  try {
    return r.code === 0 ? ((JSON.parse(r.stdout) as { supportedVersions?: string[] }).supportedVersions ?? []) : [];
  } catch {
    return [];
  }
}

/**
 * Run `command` on the IPAM plugin (delegated IPAM): the plugin named by `ipam.type` is looked up
 * in CNI_PATH only (findPlugin) and run with our environment, the command, and the netconf on
 * stdin, as the reference ipam.ExecAdd does. When it refuses the netconf's cniVersion (Debian's
 * host-local stops at 1.0.0 while the netconf says 1.1.0), its VERSION is asked and the call is
 * retried with the highest version both speak. Errors are 106 (4 for an unsafe CNI_PATH). For ADD, the plugin
 * has been started — and may have allocated — as soon as findPlugin() has succeeded, whatever the
 * outcome: the caller must then release with DEL.
 */
export async function execIpam(host: Host, command: IpamCommand, type: string, args: CmdArgs, stdin: string): Promise<Result | undefined> {
  const file = findPlugin(host, type, args.path);
  // GC and STATUS exist from CNI 1.1.0 on; older plugins (Debian's host-local) would misread them.
  if ((command === 'GC' || command === 'STATUS') && !(await supported(host, file, type)).includes('1.1.0')) return undefined;
  let r = await run(host, file, type, command, stdin);
  if (r.code !== 0 && r.err?.code === Code.IncompatibleVersion) {
    const want = (JSON.parse(stdin) as { cniVersion?: string }).cniVersion ?? '0.1.0';
    const v = await negotiate(host, file, type, want);
    if (v && v !== want) {
      if ((command === 'GC' || command === 'STATUS') && !atLeast(v, '1.1.0')) return undefined; // the plugin has no such command
      if (command === 'CHECK' && !atLeast(v, '0.4.0')) return undefined;
      r = await run(host, file, type, command, withVersion(stdin, v));
    }
  }
  if (r.code !== 0) throw fail(type, command, r);
  if (command !== 'ADD') return undefined;
  return ipamAnswer(r.stdout, `IPAM plugin ${type} ${command} result`);
}
