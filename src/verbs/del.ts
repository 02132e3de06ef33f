import { CniError, Code } from '../cni/errors.js';
import type { CallKey, Ctx, Handler } from '../cni/skel.js';
import { NAME_RE } from '../config/names.js';
import type { Host } from '../sys/host.js';
import { execIpam } from '../ipam/ipam.js';
import { isBdf } from '../device/pci.js';
import type { Lock } from '../sys/lock.js';
import { isCorruptState, loadState, moveAside, readAttachment, removeMarker, removeState, type AttachmentState, type StateFileError } from '../state/store.js';
import { keyOf, lockAttachment, lockDevice, release, step } from './common.js';
import { restoreUnsavedNetdev } from './del-unsaved.js';
import { removeUnsavedDeviceInfo } from '../deviceinfo/spec.js';

/**
 * DEL is best-effort and idempotent: a missing state (ADD failed or DEL repeated), an empty
 * CNI_NETNS, a netns that is gone, a device that is gone — all succeed. Only what a retry could
 * fix (a netlink or IPAM failure on a device that is still there) fails, and the state is kept.
 *
 * Everything DEL does happens under the attachment lock (so an ADD of the same attachment is
 * either finished or not begun) and, when the device is known, under the device lock, with the
 * state read again once both are held (GC or another pod's ADD may have released it meanwhile).
 */
export const del: Handler = async (ctx) => {
  const { host } = ctx;
  const key = keyOf(ctx);
  const att = await lockAttachment(host, key);
  try {
    // The device: the saved state's, else the netconf's (an ADD that never saved its state may
    // still have written the marker's temp file or allocated IPAM; those are released under it).
    let pci = firstLook(ctx) ?? confPci(ctx);
    for (;;) {
      const dev = pci ? await lockDevice(host, pci) : undefined;
      try {
        step('del:locked');
        let st: AttachmentState | undefined;
        let bad: StateFileError | undefined;
        try {
          st = readAttachment(host, key);
        } catch (e) {
          // a newer release's state stays an error (107): guessing would restore the wrong things
          if (!isCorruptState(e)) throw e;
          bad = e;
        }
        if (st && st.pci !== pci) {
          pci = st.pci; // saved for another device than the netconf names: lock that one
          continue;
        }
        if (bad) {
          // nothing in it is used: kept aside as evidence, then released as if it were gone
          const to = moveAside(host, bad.file);
          ctx.log.warn(`state file ${bad.file} is corrupt (${bad.problem}); moved it to ${to} and releasing what the network configuration names`, { file: bad.file, movedTo: to });
        }
        if (st) await releaseSaved(ctx, st);
        else await releaseUnsaved(ctx, pci, dev, bad !== undefined);
        return;
      } finally {
        dev?.release();
      }
    }
  } finally {
    att.release();
  }
};

/**
 * The netconf ADD saved for this attachment (Handlers.savedNetconf), when DEL's own does not
 * validate: DEL must not strand a pod because its NetworkAttachmentDefinition was edited into an
 * invalid form (or a stricter release was rolled out) after ADD. Undefined when the network name
 * is not one a state can have been saved under, or nothing usable is saved.
 */
export function savedNetconf(host: Host, key: CallKey): string | undefined {
  if (!NAME_RE.test(key.net)) return undefined;
  try {
    return loadState(host, key)?.netconf;
  } catch {
    return undefined;
  }
}

/** The saved device, read before any lock (to know which device lock to take); a file that cannot be used says nothing here. */
function firstLook(ctx: Ctx): string | undefined {
  try {
    return readAttachment(ctx.host, keyOf(ctx))?.pci;
  } catch (e) {
    if (isCorruptState(e)) return undefined;
    throw e;
  }
}

function confPci(ctx: Ctx): string | undefined {
  const id = ctx.conf.deviceID;
  return id && isBdf(id) ? id.toLowerCase() : undefined;
}

async function releaseSaved(ctx: Ctx, st: AttachmentState): Promise<void> {
  const { args, host, log } = ctx;
  const problems = await release(host, args, st, log);
  if (problems.length > 0) {
    throw new CniError(Code.TryAgainLater, `DEL could not restore everything and will need a retry: ${problems.join('; ')}`);
  }
  log.info('released', { pci: st.pci, mode: st.mode, netns: st.netns });
}

/**
 * No (usable) saved state: ADD failed earlier (and rolled back), DEL is repeated, the file was
 * corrupt, or the state was lost (deleted by hand, a reinstall) while the pod still holds the
 * device: its netdev is moved back (del-unsaved.ts) and the device-info file Multus names is
 * removed if it passes ADD's rules.
 */
async function releaseUnsaved(ctx: Ctx, pci: string | undefined, dev: Lock | undefined, corrupt = false): Promise<void> {
  const { args, conf, host, log } = ctx;
  const key = keyOf(ctx);
  if (!corrupt) log.info('no saved state for this attachment: nothing saved to restore (ADD failed earlier, DEL repeated, or the state was lost)');
  removeState(host, key); // clears the temp file of a write-ahead that was killed before its rename
  if (pci && dev) {
    try {
      restoreUnsavedNetdev(host, key, pci, args.netns, log);
    } catch (e) {
      // a state directory that is not one (107) says so itself; a netlink failure is for a retry
      if (e instanceof CniError && e.code !== Code.NetlinkFailed) throw e;
      // the marker stays: the retry finds the netdev the same way
      throw new CniError(Code.TryAgainLater, `DEL without saved state could not move the netdev of ${pci} back to the host and will need a retry: ${(e as Error).message}`);
    }
  }
  if (conf.ipam) {
    try {
      await execIpam(host, 'DEL', conf.ipam.type, args, conf.raw);
    } catch (e) {
      log.warn('IPAM DEL without saved state failed', { err: (e as Error).message });
    }
  }
  if (conf.deviceInfoFile) removeUnsavedDeviceInfo(host, conf.deviceInfoFile, key, log);
  if (pci && dev) removeMarker(host, pci, key);
}
