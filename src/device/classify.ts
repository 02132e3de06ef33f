import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import { findNetdev, readFunction, USERSPACE_DRIVERS } from './scan.js';
import { pciDir } from './sysfs.js';
import { findVdpa, type VdpaInfo } from './vdpa.js';

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

/**
 * Learn from sysfs (through the one reader, ./scan.ts) what the device at `pci` is and how to attach it.
 * Order: a vDPA device on the function wins; then a userspace (DPDK) driver; then a kernel netdev.
 */
export function classify(host: Host, pci: string, vdpaName?: string): PciDevice {
  const dir = pciDir(host, pci);
  const f = readFunction(host, pci);
  if (!f) {
    throw new CniError(Code.DeviceNotFound, `PCI device ${pci} not found (no ${dir}): check the device plugin's allocation and the deviceID`);
  }
  const driver = f.driver;
  const dev: PciDevice = { pci, driver: driver ?? '', mode: 'dpdk' };
  if (f.vendor) dev.vendor = f.vendor;
  if (f.device) dev.device = f.device;
  if (f.numaNode !== undefined) dev.numaNode = f.numaNode;
  if (f.iommuGroup) dev.iommuGroup = f.iommuGroup;

  if (f.pf) {
    const { pci: pfPci, netdev, vfIndex } = f.pf;
    if (vfIndex === undefined) {
      throw new CniError(Code.DeviceNotFound, `PCI device ${pci} is a VF of ${pfPci} but is not listed in its virtfnN links`);
    }
    dev.pf = netdev ? { pci: pfPci, netdev, vfIndex } : { pci: pfPci, vfIndex };
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
