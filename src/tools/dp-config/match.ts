import { pciDir, readInt } from '../../device/sysfs.js';
import type { Host } from '../../sys/host.js';
import { networkDevices, type NodeDevice } from '../../device/scan.js';
import { fullName, selectorList, type DpConfig, type DpSelector } from './types.js';

/**
 * Which of the node's devices a device-plugin selector picks, with the device plugin's rules:
 * candidates are network-class PCI functions except SR-IOV PFs that have VFs enabled; every
 * selector in an object must match; a pfNames/rootDevices entry may carry VF index ranges (#0,2-7).
 */
export function candidates(host: Host): NodeDevice[] {
  return networkDevices(host).filter((d) => !(d.numVfs && d.numVfs > 0));
}

function inRanges(spec: string | undefined, index: number | undefined): boolean {
  if (spec === undefined) return true;
  if (index === undefined) return false;
  return spec.split(',').some((r) => {
    const [a, b] = r.split('-').map(Number);
    return b === undefined ? index === a : index >= (a ?? 0) && index <= b;
  });
}

function pfMatch(entries: string[], name: string | undefined, index: number | undefined): boolean {
  return entries.some((e) => {
    const [n, ranges] = e.split('#');
    return n === name && inRanges(ranges, index);
  });
}

const LINK_TYPES: Record<number, string> = { 1: 'ether', 32: 'infiniband', 772: 'loopback' };

function linkType(host: Host, d: NodeDevice): string | undefined {
  if (!d.netdev) return undefined;
  const t = readInt(host, host.p(`/sys/class/net/${d.netdev}/type`)) ?? readInt(host, `${pciDir(host, d.pci)}/net/${d.netdev}/type`);
  return t === undefined ? undefined : LINK_TYPES[t];
}

const VDPA_DRIVER = { vhost: 'vhost_vdpa', virtio: 'virtio_vdpa' } as const;

export function matches(host: Host, d: NodeDevice, s: DpSelector): boolean {
  if (s.vendors && !s.vendors.includes(d.vendor ?? '')) return false;
  if (s.devices && !s.devices.includes(d.device ?? '')) return false;
  if (s.drivers && !s.drivers.includes(d.driver ?? '')) return false;
  if (s.pciAddresses && !s.pciAddresses.includes(d.pci)) return false;
  if (s.pfNames && !pfMatch(s.pfNames, d.pf?.netdev, d.pf?.vfIndex)) return false;
  if (s.rootDevices && !pfMatch(s.rootDevices, d.pf?.pci, d.pf?.vfIndex)) return false;
  if (s.linkTypes && !s.linkTypes.includes(linkType(host, d) ?? '')) return false;
  if (s.vdpaType && !d.vdpa.some((v) => v.driver === VDPA_DRIVER[s.vdpaType as 'vhost' | 'virtio'])) return false;
  if (s.isRdma && !host.fs.exists(`${pciDir(host, d.pci)}/infiniband`)) return false;
  return true;
}

interface PoolMatch {
  resource: string;
  /** per selector object: the devices that joined the pool through it */
  perSelector: NodeDevice[][];
  devices: NodeDevice[];
}

/** The pools the device plugin would build from `conf` on this node. */
export function pools(host: Host, conf: DpConfig, devs: NodeDevice[] = candidates(host)): PoolMatch[] {
  return conf.resourceList.map((r) => {
    const sels = selectorList(r);
    const perSelector: NodeDevice[][] = sels.map(() => []);
    const devices: NodeDevice[] = [];
    for (const d of devs) {
      const i = sels.findIndex((s) => matches(host, d, s));
      if (i >= 0) {
        perSelector[i]?.push(d);
        devices.push(d);
      }
    }
    return { resource: fullName(r), perSelector, devices };
  });
}

/** Devices that more than one pool selects: the device plugin would offer them twice. */
export function overlaps(ps: PoolMatch[]): Array<{ pci: string; resources: string[] }> {
  const by = new Map<string, string[]>();
  for (const p of ps) for (const d of p.devices) by.set(d.pci, [...(by.get(d.pci) ?? []), p.resource]);
  return [...by].filter(([, rs]) => rs.length > 1).map(([pci, resources]) => ({ pci, resources }));
}
