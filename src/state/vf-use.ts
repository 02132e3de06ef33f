import { pciDir, vfsOf } from '../device/sysfs.js';
import type { Host } from '../sys/host.js';
import { netnsMayBeAlive } from '../sys/netns.js';
import { loadMarker, type Marker } from './store.js';

/**
 * SR-IOV: the VFs of a PF that pods hold, by the allocation markers (ADD refuses such a PF with
 * 102; bind, doctor and inspect say so).
 */
export interface VfUse {
  index: number;
  pci: string;
  marker: Marker;
}

/** VFs of `pfPci` allocated to a pod whose network namespace is alive (by the allocation markers). */
export function vfsInUse(host: Host, pfPci: string): VfUse[] {
  const dir = pciDir(host, pfPci);
  const out: VfUse[] = [];
  for (const [index, vf] of vfsOf(host, dir)) {
    const marker = loadMarker(host, vf);
    if (marker && netnsMayBeAlive(marker.netns, host.fs)) out.push({ index, pci: vf, marker });
  }
  return out;
}


/** Why a PF's VFs make it unusable; empty when none is in a pod. Pure. */
export function vfUseReasons(pfPci: string, vfs: readonly VfUse[]): string[] {
  if (vfs.length === 0) return [];
  const list = vfs.map((v) => `VF ${v.index} (${v.pci}) is attached to container ${v.marker.key.containerID} (network ${v.marker.key.net}, ${v.marker.key.ifname})`);
  return [`SR-IOV PF ${pfPci} has VFs in pods: ${list.join('; ')}`];
}
