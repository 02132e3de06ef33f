import { realpathSync, statSync, type Stats } from 'node:fs';
import { cut, quote } from '../cni/quote.js';
import * as path from 'node:path';
import { CniError, Code } from '../cni/errors.js';
import type { CmdArgs } from '../cni/env.js';
import { parseResult, type Result } from '../cni/result.js';
import { atLeast, compareVersions } from '../cni/version.js';
import type { Host } from '../sys/host.js';

/**
 * Delegated IPAM: the plugin named by `ipam.type` is looked up in CNI_PATH only (the name was
 * checked to be a plain file name; relative CNI_PATH entries are ignored, see cni/env.ts; entries
 * others than root can change are skipped, see untrustedPlugin) and run with our environment, the command, and the netconf on
 * stdin — as the reference ipam.ExecAdd does. Better than the reference: when the IPAM plugin
 * refuses the netconf's cniVersion (Debian's host-local stops at 1.0.0 while the netconf says
 * 1.1.0), its VERSION is asked and the call is retried with the highest version both speak.
 */
export type IpamCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

const EUID = process.geteuid?.() ?? 0;

/** Why a file or directory could be changed by someone other than root (or us), or undefined. */
function writableByOthers(st: Stats, stickyOk: boolean): string | undefined {
  if (st.uid !== 0 && st.uid !== EUID) return `owned by uid ${st.uid}`;
  const sticky = stickyOk && (st.mode & 0o1000) !== 0;
  if (st.mode & 0o002 && !sticky) return 'writable by everyone';
  if (st.mode & 0o020 && st.gid !== 0 && !sticky) return `writable by group ${st.gid}`;
  return undefined;
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
export function untrustedPlugin(dir: string, file: string): string | undefined {
  try {
    const real = realpathSync(file);
    const st = statSync(real);
    if (!st.isFile()) return `${real} is not a regular file`;
    const w = writableByOthers(st, false);
    if (w) return `${real} is ${w}`;
    const own = new Set([path.posix.normalize(dir), realpathSync(dir), path.posix.dirname(real)]);
    const dirs = new Set([...own].flatMap(chain));
    for (const d of dirs) {
      const why = writableByOthers(statSync(d), !own.has(d));
      if (why) return `${d} is ${why}`;
    }
    return undefined;
  } catch (e) {
    return `it cannot be checked: ${(e as Error).message}`;
  }
}

export function findPlugin(host: Host, type: string, path: readonly string[]): string {
  const refused: string[] = [];
  for (const dir of path) {
    const p = `${dir}/${type}`;
    if (!host.fs.exists(p) || host.fs.isDir(p)) continue;
    const why = untrustedPlugin(dir, p);
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

function run(host: Host, file: string, command: IpamCommand | 'VERSION', stdin: string): Raw {
  const env: NodeJS.ProcessEnv = { ...host.env, CNI_COMMAND: command };
  if (command === 'GC' || command === 'STATUS' || command === 'VERSION') {
    delete env.CNI_CONTAINERID;
    delete env.CNI_IFNAME;
    delete env.CNI_NETNS;
  }
  const r = host.exec(file, [], { input: stdin, env, timeoutMs: 60_000 });
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
function negotiate(host: Host, file: string, want: string): string | undefined {
  const r = run(host, file, 'VERSION', JSON.stringify({ cniVersion: want }));
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
  delete o.prevResult; // its shape belongs to the original version; IPAM plugins do not use it
  return JSON.stringify(o);
}

function fail(type: string, command: string, r: Raw): CniError {
  const msg = r.err?.msg ? `${r.err.msg}${r.err.code !== undefined ? ` (code ${r.err.code})` : ''}` : r.stderr.trim() || `exit code ${r.code}`;
  return new CniError(Code.IpamFailed, `IPAM plugin ${type} ${command} failed: ${msg}`, r.err?.details ?? '');
}

/** The plugin's supportedVersions, or [] when it cannot say. */
function supported(host: Host, file: string): string[] {
  const r = run(host, file, 'VERSION', '{"cniVersion":"1.1.0"}');
  try {
    return r.code === 0 ? ((JSON.parse(r.stdout) as { supportedVersions?: string[] }).supportedVersions ?? []) : [];
  } catch {
    return [];
  }
}

export function execIpam(host: Host, command: IpamCommand, type: string, args: CmdArgs, stdin: string): Result | undefined {
  const file = findPlugin(host, type, args.path);
  // GC and STATUS exist from CNI 1.1.0 on; older plugins (Debian's host-local) would misread them.
  if ((command === 'GC' || command === 'STATUS') && !supported(host, file).includes('1.1.0')) return undefined;
  let r = run(host, file, command, stdin);
  if (r.code !== 0 && r.err?.code === Code.IncompatibleVersion) {
    const want = (JSON.parse(stdin) as { cniVersion?: string }).cniVersion ?? '0.1.0';
    const v = negotiate(host, file, want);
    if (v && v !== want) {
      if ((command === 'GC' || command === 'STATUS') && !atLeast(v, '1.1.0')) return undefined; // the plugin has no such command
      if (command === 'CHECK' && !atLeast(v, '0.4.0')) return undefined;
      r = run(host, file, command, withVersion(stdin, v));
    }
  }
  if (r.code !== 0) throw fail(type, command, r);
  if (command !== 'ADD') return undefined;
  try {
    return parseResult(JSON.parse(r.stdout), `IPAM plugin ${type} result`);
  } catch (e) {
    throw new CniError(Code.IpamFailed, `IPAM plugin ${type} returned an unreadable result: ${(e as Error).message}`);
  }
}
