import { CniError, Code } from '../cni/errors.js';
import type { CmdArgs } from '../cni/env.js';
import { parseResult, type Result } from '../cni/result.js';
import type { Host } from '../sys/host.js';

/**
 * Delegated IPAM: the plugin named by `ipam.type` is looked up in CNI_PATH only (the name was
 * checked to be a plain file name) and run with our environment, the command, and the same
 * netconf on stdin — as the reference ipam.ExecAdd does.
 */
export function findPlugin(host: Host, type: string, path: readonly string[]): string {
  for (const dir of path) {
    const p = `${dir}/${type}`;
    if (host.fs.exists(p) && !host.fs.isDir(p)) return p;
  }
  throw new CniError(Code.IpamFailed, `IPAM plugin ${JSON.stringify(type)} not found in CNI_PATH (${path.join(':') || 'empty'}): install it next to dpdk-cni`);
}

export function execIpam(host: Host, command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', type: string, args: CmdArgs, stdin: string): Result | undefined {
  const file = findPlugin(host, type, args.path);
  const env: NodeJS.ProcessEnv = { ...host.env, CNI_COMMAND: command };
  if (command === 'GC' || command === 'STATUS') {
    delete env.CNI_CONTAINERID;
    delete env.CNI_IFNAME;
    delete env.CNI_NETNS;
  }
  const r = host.exec(file, [], { input: stdin, env, timeoutMs: 60_000 });
  if (r.code !== 0) {
    let msg = r.stderr.trim() || `exit code ${r.code}`;
    let details = '';
    try {
      const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
      if (e.msg) msg = `${e.msg}${e.code !== undefined ? ` (code ${e.code})` : ''}`;
      details = e.details ?? '';
    } catch {
      /* not JSON: keep stderr */
    }
    throw new CniError(Code.IpamFailed, `IPAM plugin ${type} ${command} failed: ${msg}`, details);
  }
  if (command !== 'ADD') return undefined;
  try {
    return parseResult(JSON.parse(r.stdout), `IPAM plugin ${type} result`);
  } catch (e) {
    throw new CniError(Code.IpamFailed, `IPAM plugin ${type} returned an unreadable result: ${(e as Error).message}`);
  }
}
