import type { Host } from '../../sys/host.js';
import { isNoiommuGroup, vfioGroupNode } from '../shared/iommu.js';
import { inUse, netdevUsage } from '../../net/usage.js';
import { driverKind, listVdpa, networkDevices, vendorDevice, type NodeDevice, type NodeVdpa } from '../../device/scan.js';

/** dpdk-devbind.py's status view: network devices grouped by the kind of driver they are on. */
interface StatusEntry {
  pci: string;
  id: string;
  driver?: string;
  override?: string;
  netdev?: string;
  active: boolean;
  numaNode?: number;
  iommuGroup?: string;
  noiommu?: boolean;
  vfioNode?: string;
  pf?: string;
  vfIndex?: number;
  numVfs?: number;
  vdpa: string[];
}

export interface Status {
  dpdk: StatusEntry[];
  kernel: StatusEntry[];
  none: StatusEntry[];
  vdpa: NodeVdpa[];
}

function entry(host: Host, d: NodeDevice): StatusEntry {
  const e: StatusEntry = { pci: d.pci, id: vendorDevice(d), active: false, vdpa: d.vdpa.map((v) => v.name) };
  if (d.driver) e.driver = d.driver;
  if (d.override) e.override = d.override;
  if (d.netdev) {
    e.netdev = d.netdev;
    e.active = inUse(netdevUsage(host, d.netdev));
  }
  if (d.numaNode !== undefined) e.numaNode = d.numaNode;
  if (d.iommuGroup) {
    e.iommuGroup = d.iommuGroup;
    if (isNoiommuGroup(host, d.iommuGroup)) e.noiommu = true;
    if (d.driver === 'vfio-pci') e.vfioNode = vfioGroupNode(host, d.iommuGroup);
  }
  if (d.pf) {
    e.pf = d.pf.pci;
    if (d.pf.vfIndex !== undefined) e.vfIndex = d.pf.vfIndex;
  }
  if (d.numVfs) e.numVfs = d.numVfs;
  return e;
}

export function nodeStatus(host: Host): Status {
  const s: Status = { dpdk: [], kernel: [], none: [], vdpa: listVdpa(host) };
  for (const d of networkDevices(host)) s[driverKind(d)].push(entry(host, d));
  return s;
}

function entryLine(e: StatusEntry): string {
  const f: string[] = [e.pci, e.id, `drv=${e.driver ?? '(none)'}`];
  if (e.netdev) f.push(`if=${e.netdev}`);
  if (e.numaNode !== undefined && e.numaNode >= 0) f.push(`numa=${e.numaNode}`);
  if (e.iommuGroup) f.push(`iommu_group=${e.iommuGroup}${e.noiommu ? '(noiommu)' : ''}`);
  if (e.vfioNode) f.push(`vfio=${e.vfioNode}`);
  if (e.pf) f.push(`pf=${e.pf}${e.vfIndex !== undefined ? ` vf=${e.vfIndex}` : ''}`);
  if (e.numVfs) f.push(`vfs=${e.numVfs}`);
  if (e.override) f.push(`override=${e.override}`);
  if (e.vdpa.length > 0) f.push(`vdpa=${e.vdpa.join(',')}`);
  if (e.active) f.push('*Active*');
  return f.join(' ');
}

function vdpaLine(v: NodeVdpa): string {
  const f = [v.name, `parent=${v.parent ?? '(not PCI)'}`, `drv=${v.driver ?? '(none)'}`];
  if (v.chardev) f.push(`dev=${v.chardev}`);
  return f.join(' ');
}

export function renderStatus(s: Status): string {
  const block = (title: string, lines: string[]) => `${title}\n${'='.repeat(title.length)}\n${lines.length > 0 ? lines.join('\n') : '<none>'}\n`;
  return [
    block('Network devices using a DPDK-compatible driver', s.dpdk.map(entryLine)),
    block('Network devices using a kernel driver', s.kernel.map(entryLine)),
    block('Network devices with no driver', s.none.map(entryLine)),
    block('vDPA devices', s.vdpa.map(vdpaLine)),
  ].join('\n');
}
