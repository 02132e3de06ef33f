import { CniError, Code } from '../cni/errors.js';
import type { Handler } from '../cni/skel.js';
import { execIpam } from '../ipam/ipam.js';
import { isBdf } from '../device/pci.js';
import { loadState, removeMarker, removeState } from '../state/store.js';
import { keyOf, lockDevice, release, step } from './common.js';

/**
 * DEL is best-effort and idempotent: a missing state (ADD failed or DEL repeated), an empty
 * CNI_NETNS, a netns that is gone, a device that is gone — all succeed. Only what a retry could
 * fix (a netlink or IPAM failure on a device that is still there) fails, and the state is kept.
 */
export const del: Handler = async (ctx) => {
  const { args, conf, host, log } = ctx;
  const key = keyOf(ctx);
  const found = loadState(host, key);
  if (!found) {
    log.info('no saved state for this attachment: nothing to restore (ADD failed earlier, or DEL repeated)');
    removeState(host, key); // clears the temp file of a write-ahead that was killed before its rename
    if (conf.ipam) {
      try {
        await execIpam(host, 'DEL', conf.ipam.type, args, conf.raw);
      } catch (e) {
        log.warn('IPAM DEL without saved state failed', { err: (e as Error).message });
      }
    }
    if (conf.deviceID && isBdf(conf.deviceID)) {
      const pci = conf.deviceID.toLowerCase();
      const lock = await lockDevice(host, pci);
      try {
        removeMarker(host, pci, key);
      } finally {
        lock.release();
      }
    }
    return;
  }
  const lock = await lockDevice(host, found.pci);
  try {
    step('del:locked');
    const st = loadState(host, key);
    if (!st) return; // released meanwhile (GC)
    const problems = await release(host, args, st, log);
    if (problems.length > 0) {
      throw new CniError(Code.TryAgainLater, `DEL could not restore everything and will need a retry: ${problems.join('; ')}`);
    }
    log.info('released', { pci: st.pci, mode: st.mode, netns: st.netns });
  } finally {
    lock.release();
  }
};
