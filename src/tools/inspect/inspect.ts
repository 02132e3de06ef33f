import { classify, type Mode, type PciDevice } from '../../device/classify.js';
import { pciDir, readInt } from '../../device/sysfs.js';
import { buildDeviceInfo, findRepresentor, type DeviceInfo } from '../../deviceinfo/spec.js';
import { lastKnown, type LastKnown } from '../../state/last-known.js';
import { loadMarker, loadState } from '../../state/store.js';
import type { Host } from '../../sys/host.js';
import { isLiveNetns } from '../../sys/netns.js';
import { failed } from '../shared/errors.js';
import { groupMembers, isNoiommuGroup, vfioGroupNode } from '../shared/iommu.js';
import { hostUseReasons, netdevUsage } from '../../net/usage.js';
import { vfsInUse } from '../../state/vf-use.js';
import { hostUseForAdd, refusePodUse } from '../../verbs/in-use.js';
import { ipJson } from '../../net/iproute.js';
import { isCniError } from '../../cni/errors.js';
import { netdevFacts, readDevice, type NodeVdpa } from '../../device/scan.js';

/** What dpdk-cni sees for one PCI address and what an ADD would do with it. Reads only. */
export interface InspectReport {
  pci: string;
  pciClass?: string;
  vendor?: string;
  device?: string;
  driver?: string;
  driverOverride?: string;
  numaNode?: number;
  iommu?: { group: string; noiommu: boolean; members: string[]; vfioNode?: string; vfioNodePresent?: boolean };
  pf?: { pci: string; netdev?: string; vfIndex?: number; mtu?: number };
  numVfs?: number;
  netdev?: { name: string; mac?: string; mtu?: number; up?: boolean; addresses?: string[]; inUse?: boolean; usedFor?: string[] };
  /** an SR-IOV PF: its VFs, and those allocated to live pods */
  sriov?: { numVfs: number; vfsInUse: Array<{ index: number; pci: string; containerID: string; network: string }> };
  vdpa: NodeVdpa[];
  lastKnown?: LastKnown;
  attachment?: { containerID: string; network: string; ifname: string; netns: string; netnsAlive: boolean; phase?: string };
  plugin: {
    mode?: Mode;
    /** why ADD would fail for this device */
    refusal?: string;
    /** the CNI error code of the refusal */
    refusalCode?: number;
    actions: string[];
    deviceInfo?: DeviceInfo;
    reports?: { mac?: string; mtu?: number };
  };
  /** what the SR-IOV network device plugin would mount into the pod for this device */
  devicePluginMounts: string[];
}

function dpMounts(host: Host, d: PciDevice | undefined, driver: string | undefined, group: string | undefined, vdpaDev?: string): string[] {
  if (vdpaDev) return [vdpaDev];
  if (driver === 'vfio-pci' && group) {
    const node = vfioGroupNode(host, group);
    return ['/dev/vfio/vfio', node.includes('noiommu-') ? `${node} (as /dev/vfio/${group} in the container)` : node];
  }
  if (driver === 'igb_uio' && d) {
    const uio = host.fs.readdir(`${pciDir(host, d.pci)}/uio`).find((e) => /^uio\d+$/.test(e));
    return uio ? [`/dev/${uio}`] : [];
  }
  return [];
}

function actions(host: Host, dev: PciDevice, pfMtu: number | undefined, sriovVfs: number): string[] {
  const a: string[] = [];
  switch (dev.mode) {
    case 'dpdk':
      a.push(`DPDK mode: ${dev.pci} stays on ${dev.driver}; no netdev is moved, the pod opens the device through the device plugin's mounts`);
      a.push('the CNI result names the interface with pciID and the pod\'s sandbox; IPAM (if configured) only allocates addresses for the application');
      break;
    case 'netdev':
      a.push(`moves netdev ${dev.netdev} into the pod as CNI_IFNAME, applies mac/mtu/IPAM there, and moves it back (original name, MAC, MTU) on DEL`);
      break;
    case 'vhost-vdpa':
      a.push(`vhost-vdpa mode: nothing is moved; the pod opens ${dev.vdpa?.path} (vDPA device ${dev.vdpa?.name})`);
      break;
    case 'virtio-vdpa':
      a.push(`virtio-vdpa mode: moves the virtio netdev ${dev.netdev} of vDPA device ${dev.vdpa?.name} into the pod`);
      break;
  }
  if (dev.pf) {
    if (dev.pf.netdev) a.push(`VF ${dev.pf.vfIndex} of PF ${dev.pf.netdev} (${dev.pf.pci}): vlan, mac, spoofchk, trust, link_state and tx rates are set through the PF and restored on DEL`);
    else a.push(`VF ${dev.pf.vfIndex} of PF ${dev.pf.pci}, which has no netdev: VF settings are refused`);
    if (pfMtu !== undefined && dev.mode !== 'netdev' && dev.mode !== 'virtio-vdpa') a.push(`"mtu" may not exceed the PF's MTU ${pfMtu}`);
  } else if (sriovVfs) {
    a.push(`SR-IOV PF with ${sriovVfs} VF(s): no PF above it, so vlan, spoofchk, trust, link_state and rates are refused; attach its VFs rather than the PF (a pod holding the PF controls every VF)`);
  } else {
    a.push('no PF (a whole NIC, e.g. AWS ENA or a passed-through device): vlan, spoofchk, trust, link_state and rates are refused' +
      (dev.mode === 'dpdk' ? '; "mac" only if it equals the NIC\'s own' : ''));
  }
  a.push('writes the Device-Info file Multus asks for (runtimeConfig.CNIDeviceInfoFile) with the content below');
  return a;
}

export function inspect(host: Host, pci: string): InspectReport {
  const d = readDevice(host, pci);
  if (!d) throw failed(`no PCI device ${pci} on this node (no ${host.p(`/sys/bus/pci/devices/${pci}`)}): check the address with "dpdk-cni bind --status" or "lspci -D"`);
  const r: InspectReport = { pci, vdpa: d.vdpa, plugin: { actions: [] }, devicePluginMounts: [] };
  if (d.pciClass) r.pciClass = d.pciClass;
  if (d.vendor) r.vendor = d.vendor;
  if (d.device) r.device = d.device;
  if (d.driver) r.driver = d.driver;
  if (d.override) r.driverOverride = d.override;
  if (d.numaNode !== undefined) r.numaNode = d.numaNode;
  if (d.iommuGroup) {
    const g = d.iommuGroup;
    r.iommu = { group: g, noiommu: isNoiommuGroup(host, g), members: groupMembers(host, g) };
    if (d.driver === 'vfio-pci') {
      r.iommu.vfioNode = vfioGroupNode(host, g);
      r.iommu.vfioNodePresent = host.fs.exists(host.p(r.iommu.vfioNode));
    }
  }
  let pfMtu: number | undefined;
  if (d.pf) {
    r.pf = { ...d.pf };
    if (d.pf.netdev) {
      pfMtu = readInt(host, `${pciDir(host, d.pf.pci)}/net/${d.pf.netdev}/mtu`);
      if (pfMtu !== undefined) r.pf.mtu = pfMtu;
    }
  }
  if (d.numVfs !== undefined) r.numVfs = d.numVfs;
  if (d.numVfs) {
    r.sriov = { numVfs: d.numVfs, vfsInUse: vfsInUse(host, pci).map((v) => ({ index: v.index, pci: v.pci, containerID: v.marker.key.containerID, network: v.marker.key.net })) };
  }
  let links: unknown[] | undefined;
  if (d.netdev) {
    links = ipJson(host, ['-d', 'addr', 'show']) ?? [];
    const u = netdevUsage(host, d.netdev, links);
    r.netdev = { name: d.netdev, ...netdevFacts(host, pci, d.netdev) };
    if (u.present) {
      const why = hostUseReasons(d.netdev, u);
      Object.assign(r.netdev, { up: u.up, addresses: u.addresses, inUse: why.length > 0 });
      if (why.length > 0) r.netdev.usedFor = why;
    }
  }
  const k = lastKnown(host, pci);
  if (k) r.lastKnown = k;
  const m = loadMarker(host, pci);
  if (m) {
    r.attachment = { containerID: m.key.containerID, network: m.key.net, ifname: m.key.ifname, netns: m.netns, netnsAlive: isLiveNetns(m.netns) };
    const st = loadState(host, m.key);
    if (st) r.attachment.phase = st.phase;
  }
  let dev: PciDevice | undefined;
  try {
    dev = classify(host, pci);
  } catch (e) {
    r.plugin.refusal = (e as Error).message;
    if (isCniError(e)) r.plugin.refusalCode = e.code;
  }
  if (dev) {
    // the checks ADD makes (src/verbs/in-use.ts), without "allowInUse"
    try {
      refusePodUse(host, dev);
      if ((dev.mode === 'netdev' || dev.mode === 'virtio-vdpa') && dev.netdev) hostUseForAdd(host, pci, dev.netdev, links ?? ipJson(host, ['-d', 'addr', 'show']) ?? [], false);
    } catch (e) {
      if (!isCniError(e)) throw e;
      r.plugin.refusal = e.message;
      r.plugin.refusalCode = e.code;
    }
  }
  if (dev) {
    r.plugin.mode = dev.mode;
    r.plugin.actions = actions(host, dev, pfMtu, d.numVfs ?? 0);
    r.plugin.deviceInfo = buildDeviceInfo(dev, undefined, findRepresentor(host, dev));
    if (dev.mode === 'dpdk' || dev.mode === 'vhost-vdpa') {
      const rep: { mac?: string; mtu?: number } = {};
      const mtu = pfMtu ?? k?.mtu;
      if (!dev.pf && k?.mac) rep.mac = k.mac;
      if (mtu !== undefined) rep.mtu = mtu;
      r.plugin.reports = rep;
      if (!dev.pf && !k) r.plugin.actions.push(`no MAC/MTU recorded for ${pci}: the CNI result will carry neither (bind it with "dpdk-cni bind" while it still has its netdev to record them)`);
    }
    if (r.attachment?.netnsAlive) r.plugin.actions.unshift(`in use: attached to container ${r.attachment.containerID}; another ADD for it is refused until DEL`);
  }
  r.devicePluginMounts = dpMounts(host, dev, d.driver, d.iommuGroup, dev?.vdpa?.path);
  return r;
}
