import { dirname } from 'node:path';
import type { Fs } from '../../sys/fs.js';

/**
 * Whether the reaper may believe that an attachment's network namespace is gone. A netns path
 * that looks gone from inside a container may be alive on the node: the node's /run/netns not
 * mounted (the path is missing), mounted without propagation (a netns created after the container
 * started shows as the empty file under its bind mount), or /proc/PID/ns/net of a process in
 * another PID namespace (missing). Releasing on such a look would take a running pod's device, so
 * the reaper only judges what it can see as the node sees it:
 * - /proc/PID/ns/net: only in the node's PID namespace (hostPID), where kernel threads are
 *   visible (PID 2 is kthreadd);
 * - any other path: the mount holding its directory must receive the node's new mounts
 *   (propagation shared or slave: `mountPropagation: HostToContainer` in a pod).
 * 'unknown' = not judged (left alone), with the reason.
 */
export type Verdict = { netns: 'live' } | { netns: 'gone' } | { netns: 'unknown'; why: string };

interface Mount {
  point: string;
  propagates: boolean;
}

/** /proc/self/mountinfo: mount point (field 5) and whether optional fields hold shared: or master:. */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f.length < 7 || sep < 6) continue;
    const opt = f.slice(6, sep);
    out.push({ point: unescape(f[4]!), propagates: opt.some((o) => o.startsWith('shared:') || o.startsWith('master:')) });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount a path lies on: the longest mount point that is the path or one of its parents (the last mounted wins). */
export function mountOf(mounts: readonly Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const under = m.point === '/' || path === m.point || path.startsWith(`${m.point}/`);
    if (under && (!best || m.point.length >= best.point.length)) best = m;
  }
  return best;
}

/** Facts of this process, read once per pass. */
export interface Sight {
  hostPid: boolean;
  mounts: Mount[];
}

/** What judge() asks of the machine: the netns test and symlink resolution (the Host's Fs). */
export type Look = Pick<Fs, 'netnsState' | 'realpath'>;

/**
 * Read from the real /proc, never under DPDK_CNI_ROOT: the PID namespace and the mounts are this
 * process's, on a simulated node too. Unreadable (no /proc): not hostPID, no mounts, so nothing
 * outside /proc is judged.
 */
export function lookAround(fs: Pick<Fs, 'readText'>): Sight {
  // any error (missing, hidden, permission denied) means: not seen, so not believed
  const read = (p: string): string | undefined => {
    try {
      return fs.readText(p);
    } catch {
      return undefined;
    }
  };
  const hostPid = read('/proc/2/comm')?.trim() === 'kthreadd';
  const info = read('/proc/self/mountinfo');
  return { hostPid, mounts: info === undefined ? [] : parseMountinfo(info) };
}

export function judge(sight: Sight, path: string, look: Look): Verdict {
  const s = look.netnsState(path);
  if (s === 'live') return { netns: 'live' };
  if (s === 'unknown') return { netns: 'unknown', why: `${path} cannot be inspected (permission denied)` };
  if (!path) return { netns: 'gone' }; // an ADD that never got a netns path: nothing in any pod
  if (/^\/proc\/\d+\/ns\/net$/.test(path)) {
    return sight.hostPid ? { netns: 'gone' } : { netns: 'unknown', why: `${path} is a process's netns and this reaper does not see the node's processes (run it in the node's PID namespace: hostPID: true)` };
  }
  const m = mountOf(sight.mounts, look.realpath(dirname(path)) ?? dirname(path));
  if (!m) return { netns: 'unknown', why: `the mounts of this process cannot be read, so ${path} cannot be judged` };
  if (!m.propagates) {
    return { netns: 'unknown', why: `${dirname(path)} is on mount ${m.point}, which does not receive the node's new mounts: a live netns could look gone (mount the node's ${dirname(path)} with mountPropagation: HostToContainer)` };
  }
  return { netns: 'gone' };
}
