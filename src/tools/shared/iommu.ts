import { readAttr } from '../../device/sysfs.js';
import type { Host } from '../../sys/host.js';

export const NOIOMMU_PARAM = '/sys/module/vfio/parameters/enable_unsafe_noiommu_mode';

interface IommuState {
  /** IOMMU units registered with the kernel (/sys/class/iommu: dmar0, ivhd0, smmu3...) */
  units: string[];
  /** IOMMU groups that a real IOMMU made (not vfio no-IOMMU groups) */
  hwGroups: number;
  /** vfio's enable_unsafe_noiommu_mode: true = Y, false = N, undefined = vfio not loaded / no such parameter */
  noiommu?: boolean;
}

export function iommuState(host: Host): IommuState {
  const units = host.fs.readdir(host.p('/sys/class/iommu')).sort();
  const groups = host.fs.readdir(host.p('/sys/kernel/iommu_groups'));
  const hwGroups = groups.filter((g) => !isNoiommuGroup(host, g)).length;
  const s: IommuState = { units, hwGroups };
  const p = readAttr(host, host.p(NOIOMMU_PARAM));
  if (p !== undefined) s.noiommu = p === 'Y' || p === '1';
  return s;
}

export function iommuEnabled(s: IommuState): boolean {
  return s.units.length > 0 || s.hwGroups > 0;
}

/** vfio creates a fake group named "vfio-noiommu" for a device it binds in no-IOMMU mode. */
export function isNoiommuGroup(host: Host, group: string): boolean {
  return readAttr(host, host.p(`/sys/kernel/iommu_groups/${group}/name`)) === 'vfio-noiommu';
}

export function groupMembers(host: Host, group: string): string[] {
  return host.fs.readdir(host.p(`/sys/kernel/iommu_groups/${group}/devices`)).sort();
}

/** The vfio group character device for a group: /dev/vfio/N, or /dev/vfio/noiommu-N. */
export function vfioGroupNode(host: Host, group: string): string {
  return isNoiommuGroup(host, group) ? `/dev/vfio/noiommu-${group}` : `/dev/vfio/${group}`;
}
