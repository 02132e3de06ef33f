import { CniError, Code } from '../cni/errors.js';
import type { Handler } from '../cni/skel.js';
import { execIpam } from '../ipam/ipam.js';
import { isBdf } from '../device/pci.js';
import type { Host } from '../sys/host.js';
import type { Lock } from '../sys/lock.js';
import { isCorruptState, listMarkers, loadMarker, moveAside, readAttachment, removeMarker, sameKey, scanStates, StateFileError, sweepStateDirs, type ScannedState } from '../state/store.js';
import { lockAttachment, lockDevice, lockTimeoutMs, release } from './common.js';

/**
 * Run `fn` for each item under its device's lock. A device whose lock is busy (an ADD or DEL of it
 * is running) does not stop the others: every device is tried once without waiting, then the busy
 * ones again, waiting in all at most the lock timeout. Returns the items whose lock never came.
 */
async function eachLocked<T>(host: Host, items: T[], pciOf: (t: T) => string, fn: (t: T) => void | Promise<void>): Promise<T[]> {
  const attempt = async (t: T, timeoutMs: number): Promise<boolean> => {
    let lock: Lock;
    try {
      lock = await lockDevice(host, pciOf(t), timeoutMs);
    } catch (e) {
      if (e instanceof CniError && e.code === Code.TryAgainLater) return false;
      throw e;
    }
    try {
      await fn(t);
    } finally {
      lock.release();
    }
    return true;
  };
  const busy: T[] = [];
  for (const t of items) if (!(await attempt(t, 0))) busy.push(t);
  const deadline = Date.now() + lockTimeoutMs(host.env);
  const left: T[] = [];
  for (const t of busy) if (!(await attempt(t, Math.max(0, deadline - Date.now())))) left.push(t);
  return left;
}

/**
 * A corrupt state file of an attachment the runtime no longer knows: moved aside with a warning
 * (nothing in it is used; IPAM GC then releases its allocation), under the attachment's lock so a
 * running ADD of it is never touched. Returns a problem when its lock is busy.
 */
async function setAsideCorrupt(ctx: Parameters<Handler>[0], s: ScannedState): Promise<string | undefined> {
  const { host, log } = ctx;
  let att: Lock;
  try {
    att = await lockAttachment(host, s.key, 0);
  } catch (e) {
    if (e instanceof CniError && e.code === Code.TryAgainLater) return `${s.key.containerID}/${s.key.ifname}: its attachment is locked by another dpdk-cni operation`;
    throw e;
  }
  try {
    try {
      readAttachment(host, s.key);
      return undefined; // rewritten meanwhile (or gone): not ours to move
    } catch (e) {
      if (!isCorruptState(e)) throw e;
    }
    const to = moveAside(host, s.file);
    log.warn(`GC: state file ${s.file} is corrupt (${s.error?.problem}); moved it to ${to}`, { file: s.file, movedTo: to });
    return undefined;
  } finally {
    att.release();
  }
}

/** Whether an attachment has a state file at all (usable or not): its marker is not an orphan then. */
function stateFileExists(host: Host, k: ScannedState['key']): boolean {
  try {
    return readAttachment(host, k) !== undefined;
  } catch (e) {
    if (e instanceof StateFileError) return true;
    throw e;
  }
}

/**
 * GC: every saved attachment of this network that is not in cni.dev/valid-attachments is released
 * as DEL would (from its pod's netns if that still exists, so a device is never stranded there);
 * allocation markers of this network left without an attachment (a DEL killed between removing
 * the state and the marker) are removed; then GC is forwarded to IPAM. Without the list (neither
 * cni.dev/valid-attachments nor the legacy cni.dev/attachments) nothing is released: no list does
 * not mean "nothing is valid". Continues past errors and busy devices and reports them all at the end.
 */
export const gc: Handler = async (ctx) => {
  const { args, conf, host, log } = ctx;
  if (!conf.validAttachments) {
    log.warn('GC without cni.dev/valid-attachments (or the legacy cni.dev/attachments): releasing nothing; the runtime must list the attachments that are still in use');
    return;
  }
  const valid = new Set(conf.validAttachments.map((a) => `${a.containerID}\0${a.ifname}`));
  const problems: string[] = [];
  let released = 0;
  const swept = await sweepStateDirs(host, async (pci) => {
    try {
      return await lockDevice(host, pci, 0);
    } catch {
      return undefined; // a live ADD/DEL holds it: its temp file is not a leftover
    }
  });
  if (swept > 0) log.info('GC: removed temp files left by killed writes', { count: swept });
  const scanned = scanStates(host).filter((s) => s.key.net === conf.name && !valid.has(`${s.key.containerID}\0${s.key.ifname}`));
  // A newer release's state: not released (guessing would restore the wrong things), reported as 107.
  const newer = scanned.flatMap((s) => (s.error?.kind === 'newer' ? [s.error.message] : []));
  for (const s of scanned.filter((x) => isCorruptState(x.error))) {
    const p = await setAsideCorrupt(ctx, s);
    if (p) problems.push(p);
  }
  const stale = scanned.flatMap((s) => (s.state ? [s.state] : []));
  const busyStates = await eachLocked(host, stale, (s) => s.pci, async (s) => {
    let st;
    try {
      st = readAttachment(host, s.key);
    } catch (e) {
      if (!(e instanceof StateFileError)) throw e;
      problems.push(e.message); // changed since the scan: the next GC looks again
      return;
    }
    if (!st) return;
    log.info('GC: releasing an attachment the runtime no longer knows', { pci: st.pci, containerID: st.key.containerID, ifname: st.key.ifname });
    const p = await release(host, args, st, log);
    if (p.length > 0) problems.push(`${st.key.containerID}/${st.key.ifname} (${st.pci}): ${p.join('; ')}`);
    else released++;
  });
  for (const s of busyStates) problems.push(`${s.key.containerID}/${s.key.ifname} (${s.pci}): its device is locked by another dpdk-cni operation`);

  const orphans = listMarkers(host).filter(({ pci, marker: { key: k } }) => k.net === conf.name && !valid.has(`${k.containerID}\0${k.ifname}`) && isBdf(pci));
  const busyMarkers = await eachLocked(host, orphans, (o) => o.pci, ({ pci, marker: { key: k } }) => {
    const m = loadMarker(host, pci);
    if (m && sameKey(m.key, k) && !stateFileExists(host, k)) {
      log.info('GC: removing an allocation marker without an attachment', { pci, containerID: k.containerID, ifname: k.ifname });
      removeMarker(host, pci, k);
    }
  });
  for (const { pci, marker: { key: k } } of busyMarkers) {
    if (!busyStates.some((s) => s.pci === pci)) problems.push(`allocation marker of ${k.containerID}/${k.ifname} (${pci}): its device is locked by another dpdk-cni operation`);
  }
  if (conf.ipam) {
    try {
      await execIpam(host, 'GC', conf.ipam.type, args, conf.raw);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  log.info('GC done', { released, problems: problems.length + newer.length });
  if (newer.length > 0) throw new CniError(Code.StateFailed, [...newer, ...problems].join('; '));
  if (problems.length > 0) throw new CniError(Code.TryAgainLater, `GC could not release everything; the next GC will retry: ${problems.join('; ')}`);
};
