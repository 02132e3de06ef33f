import { CniError, Code } from '../cni/errors.js';
import type { Handler } from '../cni/skel.js';
import { execIpam } from '../ipam/ipam.js';
import { isBdf } from '../device/pci.js';
import { listMarkers, listStates, loadMarker, loadState, removeMarker, sameKey, sweepStateDirs } from '../state/store.js';
import { lockDevice, release } from './common.js';

/**
 * GC: every saved attachment of this network that is not in cni.dev/valid-attachments is released
 * as DEL would (from its pod's netns if that still exists, so a device is never stranded there);
 * allocation markers of this network left without an attachment (a DEL killed between removing
 * the state and the marker) are removed; then GC is forwarded to IPAM. Continues past errors and
 * reports them all at the end.
 */
export const gc: Handler = async (ctx) => {
  const { args, conf, host, log } = ctx;
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
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
  for (const s of listStates(host)) {
    if (s.key.net !== conf.name || valid.has(`${s.key.containerID}\0${s.key.ifname}`)) continue;
    const lock = await lockDevice(host, s.pci);
    try {
      const st = loadState(host, s.key);
      if (!st) continue;
      log.info('GC: releasing an attachment the runtime no longer knows', { pci: st.pci, containerID: st.key.containerID, ifname: st.key.ifname });
      const p = await release(host, args, st, log);
      if (p.length > 0) problems.push(`${st.key.containerID}/${st.key.ifname} (${st.pci}): ${p.join('; ')}`);
      else released++;
    } finally {
      lock.release();
    }
  }
  for (const { pci, marker } of listMarkers(host)) {
    const k = marker.key;
    if (k.net !== conf.name || valid.has(`${k.containerID}\0${k.ifname}`) || !isBdf(pci)) continue;
    const lock = await lockDevice(host, pci);
    try {
      const m = loadMarker(host, pci);
      if (m && sameKey(m.key, k) && !loadState(host, k)) {
        log.info('GC: removing an allocation marker without an attachment', { pci, containerID: k.containerID, ifname: k.ifname });
        removeMarker(host, pci, k);
      }
    } finally {
      lock.release();
    }
  }
  if (conf.ipam) {
    try {
      await execIpam(host, 'GC', conf.ipam.type, args, conf.raw);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  log.info('GC done', { released, problems: problems.length });
  if (problems.length > 0) throw new CniError(Code.TryAgainLater, `GC could not release everything: ${problems.join('; ')}`);
};
