import type { Host } from '../../sys/host.js';
import { groupMembers, isNoiommuGroup, vfioGroupNode } from '../shared/iommu.js';
import { listVdpa, networkDevices, readDevice, vendorDevice, type NodeDevice } from '../../device/scan.js';
import { hostUseReasons, netdevUsage } from '../../net/usage.js';
import { vfsInUse } from '../../state/vf-use.js';
import { ipJson } from '../../net/iproute.js';
import { fail, pass, warn, type Check } from './types.js';

/** What uses the device (the test CNI ADD applies): the host through its netdev, pods through its VFs. */
function usedBy(host: Host, d: NodeDevice, links: () => unknown[]): string | undefined {
  const why: string[] = [];
  if (d.netdev) why.push(...hostUseReasons(d.netdev, netdevUsage(host, d.netdev, links())));
  const parts: string[] = [];
  if (why.length > 0) parts.push(`used by the host (${why.join('; ')}): CNI ADD refuses it (code 111) unless the network sets "allowInUse", bind/unbind unless --force`);
  if (d.numVfs) {
    const vfs = vfsInUse(host, d.pci);
    if (vfs.length > 0) parts.push(`${vfs.length} of its VFs in pods (${vfs.map((v) => `VF ${v.index}`).join(', ')}): not attachable, bind/unbind refused unless --force`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

function nicLine(host: Host, d: NodeDevice): string {
  const f = [d.pci, vendorDevice(d), d.driver ?? 'no driver'];
  if (d.netdev) f.push(d.netdev);
  if (d.pf) f.push(`VF ${d.pf.vfIndex ?? '?'} of ${d.pf.netdev ?? d.pf.pci}`);
  if (d.numVfs) f.push(`PF with ${d.numVfs} VFs`);
  f.push(`NUMA ${d.numaNode === undefined || d.numaNode < 0 ? 'n/a' : d.numaNode}`);
  f.push(d.iommuGroup ? `IOMMU group ${d.iommuGroup}${isNoiommuGroup(host, d.iommuGroup) ? ' (no-IOMMU)' : ''}` : 'no IOMMU group');
  if (d.vdpa.length > 0) f.push(`vDPA ${d.vdpa.map((v) => v.name).join(',')}`);
  return f.join(', ');
}

/** Candidate NICs, shared IOMMU groups, vfio device nodes, uio caveats. */
export function deviceChecks(host: Host): Check[] {
  const devs = networkDevices(host);
  if (devs.length === 0) return [warn('nic', 'no network PCI devices (class 0x02xxxx) on this node', 'attach a NIC, or create VFs: echo N > /sys/class/net/<pf>/device/sriov_numvfs')];
  const out: Check[] = [];
  let dump: unknown[] | undefined;
  const links = () => (dump ??= ipJson(host, ['-d', 'addr', 'show']) ?? []);
  for (const d of devs) {
    const id = `nic:${d.pci}`;
    if (!d.driver) {
      out.push(warn(id, nicLine(host, d), `bind it: dpdk-cni bind ${d.pci} --driver vfio-pci (DPDK) or --driver kernel`));
    } else {
      const used = usedBy(host, d, links);
      out.push(pass(id, used ? `${nicLine(host, d)}; ${used}` : nicLine(host, d)));
    }
    if (d.iommuGroup && !isNoiommuGroup(host, d.iommuGroup)) {
      const others = groupMembers(host, d.iommuGroup).filter((m) => m !== d.pci && !isBridge(host, m));
      if (others.length > 0) {
        out.push(
          warn(
            `iommu-group:${d.pci}`,
            `${d.pci} shares IOMMU group ${d.iommuGroup} with ${others.join(', ')}: vfio hands out whole groups, so every member must be on vfio-pci (or no driver) before a pod can use ${d.pci}`,
            `bind the whole group: dpdk-cni bind ${[d.pci, ...others].join(' ')} --driver vfio-pci, or enable ACS / use a slot with its own group`,
          ),
        );
      }
    }
    if (d.driver === 'vfio-pci') out.push(...vfioNodeCheck(host, d));
    if (d.driver === 'uio_pci_generic') {
      out.push(warn(`uio:${d.pci}`, `${d.pci} is on uio_pci_generic: the SR-IOV device plugin mounts no device node for it`, `prefer vfio-pci (dpdk-cni bind ${d.pci} --driver vfio-pci); otherwise the pod needs privileged and /dev/uio* from the host`));
    }
  }
  return out;
}

function isBridge(host: Host, pci: string): boolean {
  return /^0x0604/.test(readDevice(host, pci, [])?.pciClass ?? '');
}

function vfioNodeCheck(host: Host, d: NodeDevice): Check[] {
  const id = `vfio-dev:${d.pci}`;
  if (!d.iommuGroup) return [fail(id, `${d.pci} is on vfio-pci but has no IOMMU group`, `rebind it: dpdk-cni bind ${d.pci} --driver kernel && dpdk-cni bind ${d.pci} --driver vfio-pci`)];
  const node = vfioGroupNode(host, d.iommuGroup);
  const missing = ['/dev/vfio/vfio', node].filter((p) => !host.fs.exists(host.p(p)));
  if (missing.length > 0) {
    return [fail(id, `${d.pci} is on vfio-pci but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`, 'devtmpfs (or udev) creates them when vfio-pci binds: check "mount | grep devtmpfs" and "dmesg | grep -i vfio", then rebind the device')];
  }
  return [pass(id, `${d.pci} on vfio-pci: ${node} present`)];
}

/** vDPA: management devices (netlink, real nodes only) and devices (sysfs). */
export function vdpaChecks(host: Host): Check[] {
  const out: Check[] = [];
  let mgmt: string[] | undefined;
  if (!host.root) {
    const tool = host.tool('vdpa');
    if (host.fs.exists(tool)) {
      const r = host.exec(tool, ['-j', 'mgmtdev', 'show']);
      try {
        mgmt = r.code === 0 ? Object.keys((JSON.parse(r.stdout) as { mgmtdev?: object }).mgmtdev ?? {}) : undefined;
      } catch {
        mgmt = undefined;
      }
    }
  }
  const devs = listVdpa(host);
  if (mgmt && mgmt.length > 0) out.push(pass('vdpa-mgmt', `vDPA management devices: ${mgmt.join(', ')}`));
  for (const v of devs) {
    const id = `vdpa:${v.name}`;
    const where = v.parent ? `on ${v.parent}` : '(not on a PCI function: dpdk-cni cannot attach it)';
    if (!v.driver) {
      out.push(warn(id, `vDPA device ${v.name} ${where} is not bound to a vDPA bus driver`, `echo ${v.name} > /sys/bus/vdpa/drivers/vhost_vdpa/bind (or virtio_vdpa)`));
    } else if (v.driver === 'vhost_vdpa') {
      if (v.chardev && host.fs.exists(host.p(v.chardev))) out.push(pass(id, `vDPA device ${v.name} ${where}: vhost_vdpa, ${v.chardev}`));
      else out.push(fail(id, `vDPA device ${v.name} ${where} is on vhost_vdpa but ${v.chardev ?? 'its /dev/vhost-vdpa-N'} is missing`, 'check devtmpfs/udev and "dmesg | grep -i vdpa"'));
    } else {
      out.push(pass(id, `vDPA device ${v.name} ${where}: ${v.driver}`));
    }
  }
  if (out.length === 0) out.push(pass('vdpa', `no vDPA devices${mgmt === undefined ? '' : ' or management devices'} (needed only for vDPA networks)`));
  return out;
}
