import { USERSPACE_DRIVERS } from '../device/scan.js';
import { linkBase, netdevsIn, pciDir, readAttr, readInt } from '../device/sysfs.js';
import type { Logger } from '../log/logger.js';
import { listLinks, type LinkInfo } from '../net/iproute.js';
import { identityOf, locate, moveOut, restoreHostUse, tmpNameFor } from '../net/netdev.js';
import { lastKnown } from '../state/last-known.js';
import { loadMarker, sameKey, type AttachmentKey, type NetdevState } from '../state/store.js';
import type { Host } from '../sys/host.js';
import { isLiveNetns } from '../sys/netns.js';

/**
 * DEL without the attachment state (deleted by hand, lost on a reinstall) while the pod still
 * holds the device's netdev: move it back to the host, under the device lock. What ADD wrote in
 * the allocation marker (the netdev as it was, and what ADD set) is used when the marker is this
 * attachment's; without it, only a pod netdev whose parent is this PCI function (or one of its
 * virtio devices) is taken — a parent a pod cannot give to a link it creates — and it comes back
 * under its sysfs or last-known host name, else its current name if free, else a temporary one.
 * A device whose marker names another attachment is that one's and is left alone.
 */
export function restoreUnsavedNetdev(host: Host, key: AttachmentKey, pci: string, podNetns: string, log: Logger): void {
  const marker = loadMarker(host, pci);
  if (marker && !sameKey(marker.key, key)) {
    log.info('no saved state, and the device is allocated to another attachment: its netdev is left alone', { pci, owner: marker.key });
    return;
  }
  const netns = isLiveNetns(podNetns, host.fs) ? podNetns : undefined;
  const saved = marker?.netdev;
  if (saved) {
    const at = locate(host, saved, pci, netns);
    if (!at) {
      log.info('no saved state; the netdev the allocation marker describes is in neither the pod nor the host', { pci, podName: saved.podName });
      return;
    }
    moveOut(host, saved, at, netns, pci);
    restoreHostUse(host, saved, log);
    log.warn('no saved state: netdev moved back to the host from what the allocation marker recorded', { pci, hostName: saved.hostName });
    return;
  }
  if (!netns) return; // a dead netns: the kernel hands a physical netdev back to the host itself
  const dir = pciDir(host, pci);
  const driver = linkBase(host, `${dir}/driver`);
  // a DPDK-bound function has no netdev: DEL repeated for it costs nothing more
  if (!driver || (USERSPACE_DRIVERS as readonly string[]).includes(driver)) return;
  const virtio = virtioDevices(host, dir);
  const l = (listLinks(host, netns) ?? []).find(
    (x) => (x.parentbus === 'pci' && x.parentdev === pci) || (x.parentbus === 'virtio' && x.parentdev !== undefined && virtio.includes(x.parentdev)),
  );
  if (!l) return;
  const nd = recovered(host, pci, dir, virtio, l);
  moveOut(host, nd, { where: 'pod', name: l.ifname }, netns, pci);
  log.warn('no saved state: the netdev of this device found in the pod by its PCI parent and moved back to the host', {
    pci, podName: l.ifname, hostName: nd.hostName, mac: nd.origMac || undefined, mtu: nd.origMtu || undefined,
  });
}

/** The function's virtio devices (virtio-net: <pci>/virtioN; virtio-vdpa: <pci>/vdpaM/virtioN). */
function virtioDevices(host: Host, dir: string): string[] {
  const out: string[] = [];
  for (const e of host.fs.readdir(dir)) {
    if (/^virtio\d+$/.test(e)) out.push(e);
    else if (/^vdpa\d+$/.test(e)) for (const v of host.fs.readdir(`${dir}/${e}`)) if (/^virtio\d+$/.test(v)) out.push(v);
  }
  return out;
}

/** What can be known of the netdev's host side without the state: sysfs, then `dpdk-cni bind`'s record. */
function recovered(host: Host, pci: string, dir: string, virtio: string[], l: LinkInfo): NetdevState {
  const hostLinks = listLinks(host) ?? [];
  const taken = (n: string) => hostLinks.some((h) => h.ifname === n || h.altnames.includes(n));
  let sysName: string | undefined;
  let sysDir: string | undefined;
  for (const d of [dir, ...virtio.map((v) => `${dir}/${v}`)]) {
    const n = netdevsIn(host, d)[0];
    if (n) {
      sysName = n;
      sysDir = `${d}/net/${n}`;
      break;
    }
  }
  const known = lastKnown(host, pci);
  const wanted = sysName ?? known?.netdev;
  let tmp = tmpNameFor(pci);
  if (taken(tmp)) tmp = tmpNameFor(`${pci}/${process.pid}/${Date.now()}`);
  const hostName = wanted && !taken(wanted) ? wanted : !taken(l.ifname) ? l.ifname : tmp;
  const origMac = (sysDir ? readAttr(host, `${sysDir}/address`) : undefined) ?? known?.mac ?? '';
  const origMtu = (sysDir ? readInt(host, `${sysDir}/mtu`) : undefined) ?? known?.mtu ?? 0;
  return {
    hostName, origMac, origMtu, wasUp: false, tmpName: tmp, podName: l.ifname, mac: l.mac, mtu: l.mtu,
    id: { ...identityOf(l), ifindex: l.ifindex },
  };
}
