import { readAttr } from '../../device/sysfs.js';
import type { Host } from '../../sys/host.js';
import { failed } from '../shared/errors.js';
import { NOIOMMU_PARAM } from '../shared/iommu.js';
import { unchanged, type Step } from './step.js';

/**
 * vfio's no-IOMMU mode (`noIommu`): the module parameter switched at run time; when vfio is not
 * loaded yet, `modprobe vfio enable_unsafe_noiommu_mode=1`. It stays until reboot: persisting it
 * (options vfio enable_unsafe_noiommu_mode=1 in /etc/modprobe.d) is the operator's.
 */
export function planNoIommu(host: Host, wanted: boolean): Step {
  const id = 'noiommu';
  const what = `vfio no-IOMMU mode ${wanted ? 'on' : 'off'}`;
  const cur = readAttr(host, host.p(NOIOMMU_PARAM));
  const on = cur === 'Y' || cur === '1';
  if (cur !== undefined && on === wanted) return unchanged(id, what);
  if (cur === undefined && !wanted) return unchanged(id, what, ['vfio is not loaded']);
  if (cur !== undefined) {
    const value = wanted ? '1' : '0';
    return {
      id, what, unchanged: false, notes: [], actions: [`write "${value}" to ${NOIOMMU_PARAM}`],
      run: async () => {
        try {
          host.fs.writeAttr(host.p(NOIOMMU_PARAM), value);
        } catch (e) {
          throw failed(`writing "${value}" to ${NOIOMMU_PARAM} failed: ${(e as Error).message}`);
        }
        return [`wrote "${value}" to ${NOIOMMU_PARAM}`];
      },
    };
  }
  return {
    id, what, unchanged: false, notes: [], actions: ['modprobe vfio enable_unsafe_noiommu_mode=1'],
    run: async () => {
      if (host.root) throw failed(`vfio is not loaded and DPDK_CNI_ROOT=${host.root} is a simulated node, where modules cannot be loaded`);
      const modprobe = host.tool('modprobe');
      const r = host.exec(modprobe, ['vfio', 'enable_unsafe_noiommu_mode=1']);
      if (r.code !== 0) throw failed(`${modprobe} vfio enable_unsafe_noiommu_mode=1 failed: ${r.stderr.trim() || `exit ${r.code}`}`);
      return ['loaded vfio with enable_unsafe_noiommu_mode=1 (modprobe)'];
    },
  };
}
