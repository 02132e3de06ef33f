import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cni, tempDir } from '../helpers/cni.js';
import { awsNode, ENA_KERNEL, ENA_MAC, ENA_VFIO, PF, sriovNode, tool } from './tools-helpers.js';

/** `dpdk-cni inspect <pci>`: what the plugin sees and would do, agreeing with what ADD then does. */
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-inspect-');
});
afterEach(() => dir.cleanup());

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  walk(root);
  return out.sort();
}

describe('inspect', () => {
  it('an ENA on vfio-pci in no-IOMMU mode: DPDK mode, no PF, noiommu vfio node, the device-info ADD writes', () => {
    const n = awsNode(dir.path);
    const r = tool(['inspect', ENA_VFIO, '--json'], n.root);
    expect(r.code).toBe(0);
    const j = r.json;
    expect(j).toMatchObject({ pci: ENA_VFIO, pciClass: '0x020000', vendor: '1d0f', device: 'ec20', driver: 'vfio-pci', numaNode: 0 });
    expect(j.iommu.noiommu).toBe(true);
    expect(j.iommu.vfioNode).toBe(`/dev/vfio/noiommu-${j.iommu.group}`);
    expect(j.iommu.vfioNodePresent).toBe(true);
    expect(j.pf).toBeUndefined();
    expect(j.plugin.mode).toBe('dpdk');
    expect(j.plugin.deviceInfo).toEqual({ type: 'pci', version: '1.1.0', pci: { 'pci-address': ENA_VFIO } });
    expect(j.devicePluginMounts).toEqual(['/dev/vfio/vfio', `/dev/vfio/noiommu-${j.iommu.group} (as /dev/vfio/${j.iommu.group} in the container)`]);
    expect(j.plugin.actions.join('\n')).toContain('no PF (a whole NIC, e.g. AWS ENA');
    expect(j.plugin.actions.join('\n')).toContain(`no MAC/MTU recorded for ${ENA_VFIO}`);
  });

  it('after bind recorded the netdev, inspect reports the MAC/MTU the CNI result will carry, and ADD agrees', () => {
    const n = awsNode(dir.path);
    tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--timeout', '0'], n.root);
    n.bind(ENA_KERNEL, 'vfio-pci'); // the kernel's part, which a simulated node lacks
    const r = tool(['inspect', ENA_KERNEL, '--json'], n.root);
    expect(r.json.plugin.mode).toBe('dpdk');
    expect(r.json.plugin.reports).toEqual({ mac: ENA_MAC, mtu: 9001 });
    expect(r.json.lastKnown).toEqual({ pci: ENA_KERNEL, netdev: 'ens7', mac: ENA_MAC, mtu: 9001, driver: 'ena' });
    const add = cni({
      command: 'ADD', root: n.root, netns: `/proc/${process.pid}/ns/net`,
      conf: { cniVersion: '1.1.0', name: 'ena-net', type: 'dpdk-cni', deviceID: ENA_KERNEL },
    });
    expect(add.code).toBe(0);
    expect(add.json.interfaces[0]).toMatchObject({ mac: ENA_MAC, mtu: 9001, pciID: ENA_KERNEL });
    // now a live pod holds it: inspect says so
    const held = tool(['inspect', ENA_KERNEL], n.root);
    expect(held.stdout).toContain(`attached to:      container c0ffee (ena-net, net1), netns /proc/${process.pid}/ns/net alive`);
    expect(held.stdout).toContain('in use: attached to container c0ffee; another ADD for it is refused until DEL');
    expect(cni({ command: 'DEL', root: n.root, conf: { cniVersion: '1.1.0', name: 'ena-net', type: 'dpdk-cni', deviceID: ENA_KERNEL } }).code).toBe(0);
  });

  it('a VF: PF, VF index, the PF MTU limit, pf-pci-address in the device-info; human output', () => {
    const { node, vfs } = sriovNode(dir.path);
    const r = tool(['inspect', vfs[1] as string], node.root);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`PF:               ${PF} (ens1f0, mtu 9000), VF index 1`);
    expect(r.stdout).toContain('CNI ADD mode: dpdk');
    expect(r.stdout).toContain('VF 1 of PF ens1f0 (0000:3b:00.0): vlan, mac, spoofchk, trust, link_state and tx rates are set through the PF and restored on DEL');
    expect(r.stdout).toContain('"mtu" may not exceed the PF\'s MTU 9000');
    expect(r.stdout).toContain(`device-info: {"type":"pci","version":"1.1.0","pci":{"pci-address":"${vfs[1]}","pf-pci-address":"${PF}"}}`);
    expect(r.stdout).toMatch(/device plugin mounts: \/dev\/vfio\/vfio, \/dev\/vfio\/\d+/);
  });

  it('a kernel VF: netdev mode, the netdev that ADD moves', () => {
    const { node, vfs } = sriovNode(dir.path);
    const r = tool(['inspect', vfs[3] as string, '--json'], node.root);
    expect(r.json.plugin.mode).toBe('netdev');
    expect(r.json.netdev).toMatchObject({ name: 'ens1f0v3', mac: '02:00:00:00:00:03', mtu: 1500 });
    expect(r.json.plugin.actions[0]).toBe('moves netdev ens1f0v3 into the pod as CNI_IFNAME, applies mac/mtu/IPAM there, and moves it back (original name, MAC, MTU) on DEL');
    expect(r.json.devicePluginMounts).toEqual([]);
  });

  it('a vhost-vdpa device: vdpa device-info with the char device, mounted by the device plugin', () => {
    const { node, vdpaPci } = sriovNode(dir.path);
    const r = tool(['inspect', vdpaPci, '--json'], node.root);
    expect(r.json.plugin.mode).toBe('vhost-vdpa');
    expect(r.json.vdpa).toEqual([{ name: 'vdpa0', parent: vdpaPci, driver: 'vhost_vdpa', chardev: '/dev/vhost-vdpa-0' }]);
    expect(r.json.plugin.deviceInfo).toEqual({ type: 'vdpa', version: '1.1.0', vdpa: { 'parent-device': 'vdpa0', driver: 'vhost', path: '/dev/vhost-vdpa-0', 'pci-address': vdpaPci } });
    expect(r.json.devicePluginMounts).toEqual(['/dev/vhost-vdpa-0']);
  });

  it('a device without a driver: exit 1 with the reason ADD would give', () => {
    const n = awsNode(dir.path);
    n.unbind(ENA_KERNEL);
    const r = tool(['inspect', ENA_KERNEL], n.root);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`CNI ADD would fail: PCI device ${ENA_KERNEL} has no driver bound: bind it to vfio-pci (DPDK) or to its kernel driver, e.g. "dpdk-cni bind ${ENA_KERNEL} --driver vfio-pci"`);
  });

  it('unknown and malformed addresses: exit 2; inspect changes nothing on the node', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'var/lib/cni'), { recursive: true });
    writeFileSync(join(n.root, 'var/lib/cni/.keep'), '');
    const before = files(n.root);
    const u = tool(['inspect', '0000:00:09.0'], n.root);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('no PCI device 0000:00:09.0 on this node');
    const m = tool(['inspect', '0000:00:6.0'], n.root);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('is not a PCI address');
    for (const p of [ENA_VFIO, ENA_KERNEL]) expect(tool(['inspect', p, '--json'], n.root).code).toBe(0);
    expect(files(n.root)).toEqual(before);
  });
});
