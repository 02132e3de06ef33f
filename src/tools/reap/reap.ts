import type { CmdArgs } from '../../cni/env.js';
import { CniError, Code } from '../../cni/errors.js';
// The one file of the node tools that reaches into the CNI verbs: DEL and GC's release and lock.
import { lockDevice, release } from '../../verbs/common.js';
import type { Logger } from '../../log/logger.js';
import type { Host } from '../../sys/host.js';
import type { Lock } from '../../sys/lock.js';
import { readAttachment, scanStates, StateFileError, type AttachmentState } from '../../state/store.js';
import { judge, lookAround, type Sight } from './visible.js';

/**
 * One reaper pass: every saved attachment whose network namespace is gone is released as DEL and
 * GC release it (common.ts release(): VF settings restored, netdev back to the host, IPAM
 * released, device-info removed, state and marker removed), under the same device lock. Multus
 * never forwards CNI GC to additional networks, so under Kubernetes this is what frees the device
 * of a pod whose DEL never came. Never touched: attachments whose netns is live or cannot be
 * judged from here (see visible.ts), devices whose lock is busy (an ADD, DEL, CHECK, GC or bind
 * is running: the next pass retries), state files that cannot be read (GC and doctor deal with
 * those).
 */
export interface ReapOutcome {
  net: string;
  containerID: string;
  ifname: string;
  pci: string;
  mode?: string;
  netns: string;
  status: 'released' | 'failed' | 'busy' | 'not-judged';
  /** failed: what a retry could fix; not-judged: why the netns was not judged */
  reason?: string;
}

export interface ReapOptions {
  /** CNI_PATH for the IPAM plugins the released attachments used */
  cniPath: string[];
  /** asked between attachments: true ends the pass early (SIGTERM in `reap --every`) */
  stop?: () => boolean;
}

function label(st: AttachmentState): Omit<ReapOutcome, 'status'> {
  return { net: st.key.net, containerID: st.key.containerID, ifname: st.key.ifname, pci: st.pci, mode: st.mode, netns: st.netns };
}

/** The CNI arguments release() runs IPAM DEL with: those of the attachment itself. */
function argsFor(st: AttachmentState, opts: ReapOptions): CmdArgs {
  return { command: 'DEL', containerId: st.key.containerID, netns: '', ifName: st.key.ifname, args: { ignoreUnknown: true, other: {} }, path: opts.cniPath };
}

/** A regular file with an execute bit (root runs it then; accessSync(X_OK) says the same for root). */
function canRun(host: Host, file: string): boolean {
  try {
    const st = host.fs.stat(file);
    return st.kind === 'file' && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

async function tryLock(host: Host, pci: string): Promise<Lock | undefined> {
  try {
    return await lockDevice(host, pci, 0);
  } catch (e) {
    if (e instanceof CniError && e.code === Code.TryAgainLater) return undefined;
    throw e;
  }
}

export async function reapOnce(host: Host, log: Logger, opts: ReapOptions, sight: Sight = lookAround(host.fs)): Promise<ReapOutcome[]> {
  const out: ReapOutcome[] = [];
  for (const s of scanStates(host)) {
    if (opts.stop?.()) break;
    if (!s.state) continue;
    const first = judge(sight, s.state.netns, host.fs);
    if (first.netns === 'live') continue;
    if (first.netns === 'unknown') {
      out.push({ ...label(s.state), status: 'not-judged', reason: first.why });
      log.warn('reap: netns not judged; attachment left alone', { ...label(s.state), reason: first.why });
      continue;
    }
    const lock = await tryLock(host, s.state.pci);
    if (!lock) {
      out.push({ ...label(s.state), status: 'busy', reason: 'its device is locked by another dpdk-cni operation; the next pass retries' });
      log.info('reap: device busy, retrying on the next pass', label(s.state));
      continue;
    }
    try {
      // read again under the lock: a DEL or GC may have released it, or an ADD re-made it
      let st: AttachmentState | undefined;
      try {
        st = readAttachment(host, s.key);
      } catch (e) {
        if (!(e instanceof StateFileError)) throw e;
        continue;
      }
      if (!st || judge(sight, st.netns, host.fs).netns !== 'gone') continue;
      // Without iproute2 (an image that lacks it) release() would take the PF for gone and drop
      // the VF settings and the netdev with a warning: not released, so the state is kept.
      if ((st.vf || st.netdev) && !canRun(host, host.tool('ip'))) {
        const reason = `${host.tool('ip')} cannot be run: restoring VF settings and moving a netdev back need iproute2's ip (the image lacks it?); the state is kept`;
        out.push({ ...label(st), status: 'failed', reason });
        log.error('reap: release needs ip, which is missing', { ...label(st), reason });
        continue;
      }
      const problems = await release(host, argsFor(st, opts), st, log, { assumeNetnsGone: true });
      if (problems.length > 0) {
        out.push({ ...label(st), status: 'failed', reason: problems.join('; ') });
        log.error('reap: release failed; the state is kept and the next pass retries', { ...label(st), problems });
      } else {
        out.push({ ...label(st), status: 'released' });
        log.info('reap: released an attachment whose network namespace is gone', label(st));
      }
    } finally {
      lock.release();
    }
  }
  return out;
}
