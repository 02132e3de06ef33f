import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import { routingId, sameDomain } from './pci.js';
import { linkBase, netdevsIn, pciDir, readAttr, readInt } from './sysfs.js';
import { findVdpa, type VdpaInfo } from './vdpa.js';

export const USERSPACE_DRIVERS = ['vfio-pci', 'igb_uio', 'uio_pci_generic'] as const;

export type Mode = 'dpdk' | 'netdev' | 'vhost-vdpa' | 'virtio-vdpa';

export interface PfInfo {
  pci: string;
  /** The PF's netdev, through which VF settings are made; absent if the PF has none. */
  netdev?: string;
  vfIndex: number;
}

export interface PciDevice {
  pci: string;
  driver: string;
  vendor?: string;
  device?: string;
  numaNode?: number;
  iommuGroup?: string;
  pf?: PfInfo;
  mode: Mode;
  /** Host netdev (netdev and virtio-vdpa modes). */
  netdev?: string;
  vdpa?: VdpaInfo;
}

/** The VF index of `vf` under `pf`: O(1) from sriov_offset/stride, verified, else a scan. */
export function vfIndexOf(host: Host, pf: string, vf: string): number | undefined {
  const pfDir = pciDir(host, pf);
  const offset = readInt(host, `${pfDir}/sriov_offset`);
  const stride = readInt(host, `${pfDir}/sriov_stride`);
  if (offset !== undefined && stride && sameDomain(pf, vf)) {
    const idx = (routingId(vf) - routingId(pf) - offset) / stride;
    if (Number.isInteger(idx) && idx >= 0 && linkBase(host, `${pfDir}/virtfn${idx}`) === vf) return idx;
  }
  for (const e of host.fs.readdir(pfDir)) {
    const m = /^virtfn(\d+)$/.exec(e);
    if (m && linkBase(host, `${pfDir}/${e}`) === vf) return Number(m[1]);
  }
  return undefined;
}

// The host netdev of a kernel-driven PCI function: <pci>/net/X, else <pci>/virtioN/net/X (virtio-net).
// `virtioOnly` (virtio-vdpa): the virtio device's netdev, never the function's own (e.g. mlx5's).
export function findNetdev(host: Host, pci: string, virtioOnly = false): string | undefined {
  const dir = pciDir(host, pci);
  const direct = virtioOnly ? [] : netdevsIn(host, dir);
  if (direct.length > 0) return direct[0];
  for (const e of host.fs.readdir(dir).sort()) {
    if (/^virtio\d+$/.test(e)) {
      const n = netdevsIn(host, `${dir}/${e}`);
      if (n.length > 0) return n[0];
    }
  }
  return undefined;
}

/**
 * The PF's own netdev. In switchdev mode the VF representors (phys_port_name pfXvfY) sit in the
 * PF's net/ directory too; the uplink has phys_port_name pN (or none in legacy mode).
 */
export function pfUplink(host: Host, pfPci: string): string | undefined {
  const dir = pciDir(host, pfPci);
  const names = netdevsIn(host, dir);
  if (names.length <= 1) return names[0];
  const uplink = names.find((n) => {
    const ppn = readAttr(host, `${dir}/net/${n}/phys_port_name`);
    return ppn === undefined || ppn === '' || /^p\d+$/.test(ppn);
  });
  return uplink ?? names[0];
}

/**
 * Learn from sysfs what the device at `pci` is and how to attach it.
 * Order: a vDPA device on the function wins; then a userspace (DPDK) driver; then a kernel netdev.
 */
export function classify(host: Host, pci: string, vdpaName?: string): PciDevice {
  const dir = pciDir(host, pci);
  if (!host.fs.exists(dir)) {
    throw new CniError(Code.DeviceNotFound, `PCI device ${pci} not found (no ${dir}): check the device plugin's allocation and the deviceID`);
  }
  const driver = linkBase(host, `${dir}/driver`);
  const dev: PciDevice = { pci, driver: driver ?? '', mode: 'dpdk' };
  const vendor = readAttr(host, `${dir}/vendor`);
  if (vendor) dev.vendor = vendor.replace(/^0x/, '');
  const device = readAttr(host, `${dir}/device`);
  if (device) dev.device = device.replace(/^0x/, '');
  const numa = readInt(host, `${dir}/numa_node`);
  if (numa !== undefined) dev.numaNode = numa;
  const group = linkBase(host, `${dir}/iommu_group`);
  if (group) dev.iommuGroup = group;

  const pfPci = linkBase(host, `${dir}/physfn`);
  if (pfPci) {
    const vfIndex = vfIndexOf(host, pfPci, pci);
    if (vfIndex === undefined) {
      throw new CniError(Code.DeviceNotFound, `PCI device ${pci} is a VF of ${pfPci} but is not listed in its virtfnN links`);
    }
    const pf: PfInfo = { pci: pfPci, vfIndex };
    const pfNet = pfUplink(host, pfPci);
    if (pfNet) pf.netdev = pfNet;
    dev.pf = pf;
  }

  if (!driver) {
    throw new CniError(Code.DeviceUnsupported, `PCI device ${pci} has no driver bound: bind it to vfio-pci (DPDK) or to its kernel driver, e.g. "dpdk-cni bind ${pci} --driver vfio-pci"`);
  }

  const vdpa = findVdpa(host, pci, vdpaName);
  if (vdpa) {
    dev.vdpa = vdpa;
    if (vdpa.driver === 'vhost') {
      dev.mode = 'vhost-vdpa';
    } else {
      dev.mode = 'virtio-vdpa';
      const nd = findNetdev(host, pci, true);
      if (!nd) throw new CniError(Code.DeviceNotFound, `vDPA device ${vdpa.name} on ${pci} is bound to virtio_vdpa but has no virtio netdev under ${dir}/virtio*/net`);
      dev.netdev = nd;
    }
    return dev;
  }
  if ((USERSPACE_DRIVERS as readonly string[]).includes(driver)) {
    dev.mode = 'dpdk';
    return dev;
  }
  const nd = findNetdev(host, pci);
  if (nd) {
    dev.mode = 'netdev';
    dev.netdev = nd;
    return dev;
  }
  throw new CniError(
    Code.DeviceUnsupported,
    `PCI device ${pci} is bound to ${driver}, which is neither a DPDK driver (${USERSPACE_DRIVERS.join(', ')}) nor a kernel driver with a netdev, and it has no vDPA device`,
  );
}
