import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';

/**
 * iproute2, by absolute path, never through a shell. A command list runs as one `ip -batch -`
 * process when every token is batch-safe (iproute2's batch parser treats quotes and '#'
 * specially; MACs and IPv6 addresses are fine), else one process per command. `netns` runs it
 * inside that network namespace with `nsenter --net=PATH` (Node has no setns).
 */
const SAFE = /^[A-Za-z0-9_.@%+=,:\/-]+$/;

function prefix(host: Host, netns?: string, sysctls: readonly string[] = []): [string, string[]] {
  const ip = host.tool('ip');
  if (!netns) return [ip, []];
  if (sysctls.length === 0) return [host.tool('nsenter'), [`--net=${netns}`, ip]];
  // /proc/sys/net is the opener's network namespace: written by a shell in the pod, which then
  // becomes ip (the same one process; the names are passed as arguments, never into the script)
  return [host.tool('nsenter'), [`--net=${netns}`, host.tool('sh'), '-c', SYSCTL_SCRIPT, 'sh', ...sysctls, '--', ip]];
}

/** Writes 1 into each file before `--`, then execs the rest; exit 97 naming the file it could not write. */
const SYSCTL_SCRIPT = 'while [ "$1" != -- ]; do { printf 1 > "$1"; } 2>/dev/null || { printf %s "$1" >&2; exit 97; }; shift; done; shift; exec "$@"';
const SYSCTL_FAILED = 97;

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
export function ipRunThenShow(host: Host, cmds: ReadonlyArray<readonly string[]>, name: string, netns?: string, sysctls: readonly string[] = []): LinkInfo | undefined {
  const out = run(host, cmds, netns, name, sysctls);
  if (out === undefined) return showLink(host, name, netns);
  const j = parseJsonArray(out);
  return j ? parseLink(j[0]) : undefined;
}

/**
 * With `show`: the batch ends with a read of that link and its JSON is returned (undefined if not
 * batched). With `sysctls` (and `netns`): those /proc/sys files are set to 1 in that namespace first,
 * by the same process.
 */
function run(host: Host, cmds: ReadonlyArray<readonly string[]>, netns?: string, show?: string, sysctls: readonly string[] = []): string | undefined {
  if (cmds.length === 0) return undefined;
  const [file, pre] = prefix(host, netns, sysctls);
  const sysctlFailed = (r: { code: number; stderr: string }) => {
    if (sysctls.length > 0 && netns && r.code === SYSCTL_FAILED) {
      throw new CniError(Code.NetlinkFailed, `cannot set ${r.stderr.trim() || sysctls.join(', ')} to 1 in the network namespace ${netns}`);
    }
  };
  const all = show !== undefined ? [...cmds, ['link', 'show', 'dev', show]] : cmds;
  const batchable = all.length > 1 && all.every((c) => c.every((t) => SAFE.test(t)));
  if (batchable) {
    const r = host.exec(file, [...pre, ...(show !== undefined ? ['-j', '-d'] : []), '-batch', '-'], { input: `${all.map((c) => c.join(' ')).join('\n')}\n` });
    if (r.code === 0) return show !== undefined ? r.stdout : undefined;
    sysctlFailed(r);
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    const n = m ? Number(m[1]) : 0;
    if (show !== undefined && n === all.length) return '[]'; // only the read failed
    const failed = n > 0 ? all[n - 1] : undefined;
    const detail = r.stderr.split('\n').filter((l) => l && !l.startsWith('Command failed')).join('; ');
    throw new CniError(Code.NetlinkFailed, `${ipCommandText(failed ?? all[0] ?? [], netns)} failed: ${detail || `exit ${r.code}`}`);
  }
  let [f, p] = [file, pre];
  for (const c of cmds) {
    const r = host.exec(f, [...p, ...c]);
    sysctlFailed(r);
    [f, p] = prefix(host, netns); // the sysctls were set by the first process
    if (r.code !== 0) throw new CniError(Code.NetlinkFailed, `${ipCommandText(c, netns)} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return undefined;
}

/**
 * Several read-only commands (`addr show`, `route show table all`, ...) in one `ip -j [-d] -batch -`
 * process: one parsed array per command, in order. Undefined when the process fails or its output
 * is not one JSON array per command. Every token must be batch-safe.
 */
export function ipJsonBatch(host: Host, cmds: ReadonlyArray<readonly string[]>, opts: { details?: boolean; netns?: string } = {}): unknown[][] | undefined {
  if (!cmds.every((c) => c.every((t) => SAFE.test(t)))) return undefined;
  const [file, pre] = prefix(host, opts.netns);
  const r = host.exec(file, [...pre, '-j', ...(opts.details ? ['-d'] : []), '-batch', '-'], { input: `${cmds.map((c) => c.join(' ')).join('\n')}\n` });
  if (r.code !== 0) return undefined;
  const out = splitJsonArrays(r.stdout);
  return out?.length === cmds.length ? out : undefined;
}

/** `[...][...]` (iproute2 prints one JSON array per batch command) → the arrays; undefined if malformed. */
export function splitJsonArrays(text: string): unknown[][] | undefined {
  const out: unknown[][] = [];
  let depth = 0;
  let start = -1;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === '[' || ch === '{') {
      if (depth === 0) {
        if (ch !== '[') return undefined;
        start = i;
      }
      depth++;
    } else if (ch === ']' || ch === '}') {
      depth--;
      if (depth < 0) return undefined;
      if (depth === 0) {
        const a = parseJsonArray(text.slice(start, i + 1));
        if (!a) return undefined;
        out.push(a);
      }
    } else if (depth === 0 && !/\s/.test(ch ?? '')) return undefined;
  }
  return depth === 0 ? out : undefined;
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
