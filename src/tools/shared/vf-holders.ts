import { isUserspaceDriver, readDevice, type NodeDevice } from '../../device/scan.js';
import { pciDir, vfsOf } from '../../device/sysfs.js';
import type { Host } from '../../sys/host.js';
import { vfioGroupNode } from './iommu.js';
import { holdersOf, holdersText } from './open-files.js';

/** The char devices through which userspace drives a device: /dev/vfio/<group> (vfio-pci), /dev/uioN (uio drivers). */
export function userspaceNodes(host: Host, d: NodeDevice): string[] {
  if (d.driver === 'vfio-pci' && d.iommuGroup) return [vfioGroupNode(host, d.iommuGroup)];
  if (d.driver && isUserspaceDriver(d.driver)) return host.fs.readdir(`${pciDir(host, d.pci)}/uio`).filter((u) => /^uio\d+$/.test(u)).map((u) => `/dev/${u}`);
  return [];
}

/**
 * Why destroying a PF's VFs (a new sriov_numvfs, rebinding the PF) would pull a VF from under a
 * process: a VF on vfio-pci or a uio driver whose char device a DPDK application or VM holds open
 * (one the device plugin gave a pod directly, without dpdk-cni's marker), or whose vDPA device's
 * /dev/vhost-vdpa-N one holds. The kernel's VF removal
 * waits until the holder lets go. Empty when none is held.
 */
export function vfHolderReasons(host: Host, pfPci: string): string[] {
  const dir = pciDir(host, pfPci);
  // every VF's char devices first, then one walk of /proc/*/fd for all of them (not one per VF)
  const vfs: Array<{ label: string; nodes: string[] }> = [];
  for (const [index, vf] of vfsOf(host, dir)) {
    const d = readDevice(host, vf);
    if (!d) continue;
    const nodes = [...userspaceNodes(host, d), ...d.vdpa.flatMap((v) => (v.chardev ? [v.chardev] : []))];
    if (nodes.length > 0) vfs.push({ label: `VF ${index} (${d.pci})`, nodes });
  }
  const all = vfs.flatMap((v) => v.nodes);
  const holders = all.length > 0 ? holdersOf(host, all) : [];
  if (holders.length === 0) return [];
  const list = vfs.flatMap((v) => {
    const mine = holders.filter((h) => v.nodes.includes(h.path));
    return mine.length > 0 ? [`${v.label}: ${holdersText(mine)}`] : [];
  });
  return [`SR-IOV PF ${pfPci} has VFs a DPDK application or VM holds open: ${list.join('; ')}`];
}
