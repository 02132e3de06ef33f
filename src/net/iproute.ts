import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';

/**
 * iproute2, by absolute path, never through a shell. A command list runs as one `ip -batch -`
 * process when every token is batch-safe (iproute2's batch parser treats quotes and '#'
 * specially; MACs and IPv6 addresses are fine), else one process per command. `netns` runs it
 * inside that network namespace with `nsenter --net=PATH` (Node has no setns).
 */
const SAFE = /^[A-Za-z0-9_.@%+=,:\/-]+$/;

function prefix(host: Host, netns?: string): [string, string[]] {
  const ip = host.tool('ip');
  if (!netns) return [ip, []];
  return [host.tool('nsenter'), [`--net=${netns}`, ip]];
}

function ipCommandText(cmd: readonly string[], netns?: string): string {
  return `${netns ? `nsenter --net=${netns} ` : ''}ip ${cmd.join(' ')}`;
}

/** Run commands in order; stop at the first failure and throw naming that command. */
export function ipRun(host: Host, cmds: ReadonlyArray<readonly string[]>, netns?: string): void {
  run(host, cmds, netns);
}

/**
 * Run commands, then read link `name` (`ip -d link show`) in the same place: one process when the
 * commands can be batched (the read rides at the end of the batch), else one more. Undefined when
 * the link cannot be read after the commands succeeded.
 */
export function ipRunThenShow(host: Host, cmds: ReadonlyArray<readonly string[]>, name: string, netns?: string): LinkInfo | undefined {
  const out = run(host, cmds, netns, name);
  if (out === undefined) return showLink(host, name, netns);
  const j = parseJsonArray(out);
  return j ? parseLink(j[0]) : undefined;
}

/** With `show`: the batch ends with a read of that link and its JSON is returned (undefined if not batched). */
function run(host: Host, cmds: ReadonlyArray<readonly string[]>, netns?: string, show?: string): string | undefined {
  if (cmds.length === 0) return undefined;
  const [file, pre] = prefix(host, netns);
  const all = show !== undefined ? [...cmds, ['link', 'show', 'dev', show]] : cmds;
  const batchable = all.length > 1 && all.every((c) => c.every((t) => SAFE.test(t)));
  if (batchable) {
    const r = host.exec(file, [...pre, ...(show !== undefined ? ['-j', '-d'] : []), '-batch', '-'], { input: `${all.map((c) => c.join(' ')).join('\n')}\n` });
    if (r.code === 0) return show !== undefined ? r.stdout : undefined;
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    const n = m ? Number(m[1]) : 0;
    if (show !== undefined && n === all.length) return '[]'; // only the read failed
    const failed = n > 0 ? all[n - 1] : undefined;
    const detail = r.stderr.split('\n').filter((l) => l && !l.startsWith('Command failed')).join('; ');
    throw new CniError(Code.NetlinkFailed, `${ipCommandText(failed ?? all[0] ?? [], netns)} failed: ${detail || `exit ${r.code}`}`);
  }
  for (const c of cmds) {
    const r = host.exec(file, [...pre, ...c]);
    if (r.code !== 0) throw new CniError(Code.NetlinkFailed, `${ipCommandText(c, netns)} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return undefined;
}

function parseJsonArray(text: string): unknown[] | undefined {
  try {
    const v = JSON.parse(text || '[]') as unknown;
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `ip -j [-d] ...` parsed; undefined when the command fails (e.g. the link does not exist). */
export function ipJson(host: Host, args: readonly string[], netns?: string): unknown[] | undefined {
  const [file, pre] = prefix(host, netns);
  const r = host.exec(file, [...pre, '-j', ...args]);
  if (r.code !== 0) return undefined;
  return parseJsonArray(r.stdout);
}

export interface LinkInfo {
  ifname: string;
  ifindex: number;
  mac: string;
  mtu: number;
  up: boolean;
  parentbus?: string;
  parentdev?: string;
  /** linkinfo.info_kind: veth, macvlan, dummy, ... (a physical netdev has none) */
  kind?: string;
  altnames: string[];
}

export function parseLink(o: unknown): LinkInfo | undefined {
  if (!o || typeof o !== 'object') return undefined;
  const l = o as Record<string, unknown>;
  if (typeof l.ifname !== 'string') return undefined;
  const flags = Array.isArray(l.flags) ? (l.flags as unknown[]) : [];
  const info: LinkInfo = {
    ifname: l.ifname,
    ifindex: typeof l.ifindex === 'number' ? l.ifindex : 0,
    mac: typeof l.address === 'string' ? l.address : '',
    mtu: typeof l.mtu === 'number' ? l.mtu : 0,
    up: flags.includes('UP'),
    altnames: Array.isArray(l.altnames) ? (l.altnames as unknown[]).filter((a): a is string => typeof a === 'string') : [],
  };
  if (typeof l.parentbus === 'string') info.parentbus = l.parentbus;
  if (typeof l.parentdev === 'string') info.parentdev = l.parentdev;
  const kind = (l.linkinfo as { info_kind?: unknown } | undefined)?.info_kind;
  if (typeof kind === 'string') info.kind = kind;
  return info;
}

export function showLink(host: Host, name: string, netns?: string): LinkInfo | undefined {
  const j = ipJson(host, ['-d', 'link', 'show', 'dev', name], netns);
  return j ? parseLink(j[0]) : undefined;
}

export function listLinks(host: Host, netns?: string): LinkInfo[] | undefined {
  const j = ipJson(host, ['-d', 'link', 'show'], netns);
  return j?.map(parseLink).filter((l): l is LinkInfo => l !== undefined);
}
