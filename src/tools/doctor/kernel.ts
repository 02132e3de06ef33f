import { readInt } from '../../device/sysfs.js';
import type { Host } from '../../sys/host.js';
import { iommuEnabled, iommuState, NOIOMMU_PARAM } from '../shared/iommu.js';
import { fail, pass, warn, type Check } from './types.js';

/** Kernel prerequisites: IOMMU or vfio no-IOMMU mode, vfio-pci, hugepages reserved and mounted. */
export function iommuCheck(host: Host): Check[] {
  const s = iommuState(host);
  if (iommuEnabled(s)) {
    return [pass('iommu', `IOMMU on${s.units.length > 0 ? `: ${s.units.join(', ')}` : ''} (${s.hwGroups} IOMMU groups)`)];
  }
  if (s.noiommu) {
    return [pass('iommu', 'no IOMMU; vfio no-IOMMU mode is on (enable_unsafe_noiommu_mode=Y): vfio-pci works without DMA isolation, DPDK pods need privileged or CAP_SYS_RAWIO')];
  }
  return [
    fail(
      'iommu',
      `no IOMMU, and vfio's no-IOMMU mode is ${s.noiommu === false ? 'off' : 'unavailable (vfio is not loaded)'}: vfio-pci cannot take any device`,
      'bare metal: add intel_iommu=on iommu=pt (Intel) or amd_iommu=on to the kernel command line and reboot; ' +
        `a VM without a vIOMMU (e.g. AWS EC2): modprobe vfio && echo 1 > ${NOIOMMU_PARAM}, persisted with "options vfio enable_unsafe_noiommu_mode=1" in /etc/modprobe.d/vfio.conf`,
    ),
  ];
}

export function vfioCheck(host: Host): Check[] {
  if (host.fs.exists(host.p('/sys/bus/pci/drivers/vfio-pci'))) return [pass('vfio', 'vfio-pci driver loaded')];
  if (host.fs.exists(host.p('/sys/module/vfio_pci'))) return [pass('vfio', 'vfio_pci module loaded')];
  return [fail('vfio', 'vfio-pci is not loaded: DPDK devices cannot be bound to it', 'modprobe vfio-pci, persisted with "vfio-pci" in /etc/modules-load.d/vfio-pci.conf')];
}

const HP = '/sys/kernel/mm/hugepages';

function size(kb: number): string {
  return kb >= 1 << 20 ? `${kb / (1 << 20)} GiB` : `${kb / 1024} MiB`;
}

export function hugepagesCheck(host: Host): Check[] {
  const dirs = host.fs.readdir(host.p(HP)).filter((d) => /^hugepages-\d+kB$/.test(d)).sort();
  if (dirs.length === 0) return [fail('hugepages', `no ${HP}: this kernel has no hugetlbfs support`, 'use a kernel built with CONFIG_HUGETLBFS')];
  const parts: string[] = [];
  let total = 0;
  let free = 0;
  for (const d of dirs) {
    const kb = Number(/\d+/.exec(d)?.[0]);
    const nr = readInt(host, host.p(`${HP}/${d}/nr_hugepages`)) ?? 0;
    const fr = readInt(host, host.p(`${HP}/${d}/free_hugepages`)) ?? 0;
    if (nr > 0) parts.push(`${nr} x ${size(kb)} (${fr} free)`);
    total += nr * kb;
    free += fr * kb;
  }
  if (total === 0) {
    return [
      fail(
        'hugepages',
        'no hugepages reserved: DPDK applications cannot start',
        `echo 1024 > ${HP}/hugepages-2048kB/nr_hugepages (2 GiB of 2 MiB pages), persisted with vm.nr_hugepages=1024 in /etc/sysctl.d/ ` +
          'or hugepagesz=1G hugepages=N on the kernel command line; then restart kubelet so the node advertises hugepages-2Mi/1Gi',
      ),
    ];
  }
  if (free === 0) return [warn('hugepages', `hugepages reserved but none free: ${parts.join(', ')}`, 'reserve more, or find who holds them (grep -i huge /proc/meminfo)')];
  return [pass('hugepages', `hugepages reserved: ${parts.join(', ')}, ${size(total)} in total`)];
}

export function hugetlbfsCheck(host: Host): Check[] {
  const mounts = (host.fs.readText(host.p('/proc/mounts')) ?? '')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'hugetlbfs');
  if (mounts.length === 0) {
    return [
      warn(
        'hugetlbfs',
        'no hugetlbfs mounted on the node: kubelet gives pods their own (emptyDir medium: HugePages), but DPDK tools run on the node need one',
        'mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages (systemd mounts it by default: dev-hugepages.mount)',
      ),
    ];
  }
  return [pass('hugetlbfs', `hugetlbfs mounted: ${mounts.map((f) => `${f[1]} (${(f[3] ?? '').split(',').find((o) => o.startsWith('pagesize=')) ?? 'default page size'})`).join(', ')}`)];
}
