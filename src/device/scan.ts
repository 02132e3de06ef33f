import * as path from 'node:path';
import { isBdf, routingId, sameDomain } from './pci.js';
import { linkBase, netdevsIn, pciDir, PCI_DEVICES, readAttr, readInt, vfsOf } from './sysfs.js';
import type { Host } from '../sys/host.js';

/**
 * The one reader of PCI functions in sysfs: CNI ADD (classify.ts) and every node tool (doctor,
 * dp-config, inspect, bind) see a device through these functions, so they name the same PF
 * netdev, VF index and driver. Reads only, never writes.
 */

export const USERSPACE_DRIVERS = ['vfio-pci', 'igb_uio', 'uio_pci_generic'] as const;

/** The VF index of `vf` under `pf`: O(1) from sriov_offset/stride, verified, else a scan. */
export function vfIndexOf(host: Host, pf: string, vf: string): number | undefined {
  const pfDir = pciDir(host, pf);
  const offset = readInt(host, `${pfDir}/sriov_offset`);
  const stride = readInt(host, `${pfDir}/sriov_stride`);
  if (offset !== undefined && stride && sameDomain(pf, vf)) {
    const idx = (routingId(vf) - routingId(pf) - offset) / stride;
    if (Number.isInteger(idx) && idx >= 0 && linkBase(host, `${pfDir}/virtfn${idx}`) === vf) return idx;
  }
  for (const [index, pci] of vfsOf(host, pfDir)) if (pci === vf) return index;
  return undefined;
}

/**
 * A function's own netdev among those in its net/ directory. In switchdev mode the VF
 * representors (phys_port_name pfXvfY) sit in the PF's net/ directory too; the uplink has
 * phys_port_name pN (or none in legacy mode).
 */
function uplinkIn(host: Host, dir: string): string | undefined {
  const names = netdevsIn(host, dir);
  if (names.length <= 1) return names[0];
  const uplink = names.find((n) => {
    const ppn = readAttr(host, `${dir}/net/${n}/phys_port_name`);
    return ppn === undefined || ppn === '' || /^p\d+$/.test(ppn);
  });
  return uplink ?? names[0];
}

/** The PF's own netdev (its uplink, never a VF representor), through which VF settings are made. */
function pfUplink(host: Host, pfPci: string): string | undefined {
  return uplinkIn(host, pciDir(host, pfPci));
}

/**
 * The host netdev of a kernel-driven PCI function: its own in <pci>/net (the uplink when
 * representors sit beside it), else <pci>/virtioN/net/X (virtio-net).
 * `virtioOnly` (virtio-vdpa): the virtio device's netdev, never the function's own (e.g. mlx5's).
 */
export function findNetdev(host: Host, pci: string, virtioOnly = false): string | undefined {
  const dir = pciDir(host, pci);
  const direct = virtioOnly ? undefined : uplinkIn(host, dir);
  if (direct) return direct;
  for (const e of host.fs.readdir(dir).sort()) {
    if (/^virtio\d+$/.test(e)) {
      const n = netdevsIn(host, `${dir}/${e}`);
      if (n.length > 0) return n[0];
    }
  }
  return undefined;
}

/** A vDPA device as sysfs shows it (/sys/bus/vdpa/devices/<name>). */
export interface NodeVdpa {
  name: string;
  /** PCI parent (management device), when the vDPA device sits on a PCI function */
  parent?: string;
  /** vhost_vdpa | virtio_vdpa | undefined (unbound) */
  driver?: string;
  /** vhost_vdpa: /dev/vhost-vdpa-N */
  chardev?: string;
}

/** One PCI function as sysfs shows it (identity, driver, placement, SR-IOV position). */
export interface PciFunction {
  pci: string;
  /** PCI class, e.g. 0x020000 (Ethernet) */
  pciClass?: string;
  vendor?: string;
  device?: string;
  driver?: string;
  /** driver_override, when set */
  override?: string;
  numaNode?: number;
  iommuGroup?: string;
  /** a VF: its PF, the PF's uplink netdev and the VF's index (undefined when no virtfnN names it) */
  pf?: { pci: string; netdev?: string; vfIndex?: number };
  /** a PF: number of VFs enabled */
  numVfs?: number;
}

/** A PCI function as the node tools see it: also its host netdev and its vDPA devices. */
export interface NodeDevice extends PciFunction {
  netdev?: string;
  vdpa: NodeVdpa[];
}

type DriverKind = 'dpdk' | 'kernel' | 'none';

export function isNetworkClass(pciClass: string | undefined): boolean {
  return pciClass !== undefined && /^0x02[0-9a-f]{4}$/i.test(pciClass);
}

export function isUserspaceDriver(driver: string | undefined): boolean {
  return driver !== undefined && (USERSPACE_DRIVERS as readonly string[]).includes(driver);
}

export function driverKind(d: NodeDevice): DriverKind {
  if (!d.driver) return 'none';
  return isUserspaceDriver(d.driver) ? 'dpdk' : 'kernel';
}

function hex(v: string | undefined): string | undefined {
  return v?.replace(/^0x/i, '').toLowerCase();
}

/** vDPA devices on the node, from /sys/bus/vdpa/devices (parent = the directory they live in). */
export function listVdpa(host: Host): NodeVdpa[] {
  const dir = host.p('/sys/bus/vdpa/devices');
  const out: NodeVdpa[] = [];
  for (const name of host.fs.readdir(dir).sort()) {
    const real = host.fs.realpath(`${dir}/${name}`);
    const v: NodeVdpa = { name };
    const parent = real ? path.posix.basename(path.posix.dirname(real)) : undefined;
    if (parent && isBdf(parent)) v.parent = parent;
    const drv = linkBase(host, `${dir}/${name}/driver`);
    if (drv) v.driver = drv;
    const chr = host.fs.readdir(`${dir}/${name}`).find((e) => /^vhost-vdpa-\d+$/.test(e));
    if (chr) v.chardev = `/dev/${chr}`;
    out.push(v);
  }
  return out;
}

/** Read one PCI function's own attributes; undefined when there is no such device. */
export function readFunction(host: Host, pci: string): PciFunction | undefined {
  const dir = pciDir(host, pci);
  if (!host.fs.exists(dir)) return undefined;
  const d: PciFunction = { pci };
  const cls = readAttr(host, `${dir}/class`);
  if (cls) d.pciClass = cls.toLowerCase();
  const vendor = hex(readAttr(host, `${dir}/vendor`));
  if (vendor) d.vendor = vendor;
  const device = hex(readAttr(host, `${dir}/device`));
  if (device) d.device = device;
  const driver = linkBase(host, `${dir}/driver`);
  if (driver) d.driver = driver;
  const ov = readAttr(host, `${dir}/driver_override`);
  if (ov && ov !== '(null)') d.override = ov;
  const numa = readInt(host, `${dir}/numa_node`);
  if (numa !== undefined) d.numaNode = numa;
  const group = linkBase(host, `${dir}/iommu_group`);
  if (group) d.iommuGroup = group;
  const pf = linkBase(host, `${dir}/physfn`);
  if (pf) {
    d.pf = { pci: pf };
    const pfNet = pfUplink(host, pf);
    if (pfNet) d.pf.netdev = pfNet;
    const idx = vfIndexOf(host, pf, pci);
    if (idx !== undefined) d.pf.vfIndex = idx;
  }
  const numVfs = readInt(host, `${dir}/sriov_numvfs`);
  if (numVfs !== undefined) d.numVfs = numVfs;
  return d;
}

/** Read one PCI function with its netdev and vDPA devices; undefined when there is no such device. */
export function readDevice(host: Host, pci: string, vdpa: NodeVdpa[] = listVdpa(host)): NodeDevice | undefined {
  const f = readFunction(host, pci);
  if (!f) return undefined;
  const d: NodeDevice = { ...f, vdpa: vdpa.filter((v) => v.parent === pci) };
  if (f.driver) {
    const nd = findNetdev(host, pci);
    if (nd) d.netdev = nd;
  }
  return d;
}

/** Every PCI function on the node, sorted by address. */
function scanPci(host: Host): NodeDevice[] {
  const vdpa = listVdpa(host);
  return host.fs
    .readdir(host.p(PCI_DEVICES))
    .filter(isBdf)
    .sort()
    .map((a) => readDevice(host, a, vdpa))
    .filter((d): d is NodeDevice => d !== undefined);
}

/** Network-class PCI functions (class 0x02xxxx): the candidates for DPDK, VFs and vDPA. */
export function networkDevices(host: Host): NodeDevice[] {
  return scanPci(host).filter((d) => isNetworkClass(d.pciClass));
}

/** A netdev's MAC and MTU from sysfs (works on simulated nodes too). */
export function netdevFacts(host: Host, pci: string, ifname: string): { mac?: string; mtu?: number } {
  const base = host.p(`/sys/class/net/${ifname}`);
  const dir = host.fs.exists(base) ? base : `${pciDir(host, pci)}/net/${ifname}`;
  const out: { mac?: string; mtu?: number } = {};
  const mac = readAttr(host, `${dir}/address`);
  if (mac) out.mac = mac;
  const mtu = readInt(host, `${dir}/mtu`);
  if (mtu !== undefined) out.mtu = mtu;
  return out;
}

export function vendorDevice(d: NodeDevice): string {
  return `${d.vendor ?? '????'}:${d.device ?? '????'}`;
}
