import { CniError, Code } from '../cni/errors.js';
import type { CmdArgs } from '../cni/env.js';
import { parseResult, type Result } from '../cni/result.js';
import { atLeast, compareVersions } from '../cni/version.js';
import type { Host } from '../sys/host.js';

/**
 * Delegated IPAM: the plugin named by `ipam.type` is looked up in CNI_PATH only (the name was
 * checked to be a plain file name) and run with our environment, the command, and the netconf on
 * stdin — as the reference ipam.ExecAdd does. Better than the reference: when the IPAM plugin
 * refuses the netconf's cniVersion (Debian's host-local stops at 1.0.0 while the netconf says
 * 1.1.0), its VERSION is asked and the call is retried with the highest version both speak.
 */
export type IpamCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

export function findPlugin(host: Host, type: string, path: readonly string[]): string {
  for (const dir of path) {
    const p = `${dir}/${type}`;
    if (host.fs.exists(p) && !host.fs.isDir(p)) return p;
  }
  throw new CniError(Code.IpamFailed, `IPAM plugin ${JSON.stringify(type)} not found in CNI_PATH (${path.join(':') || 'empty'}): install it next to dpdk-cni`);
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
