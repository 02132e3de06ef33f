import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { SimNode } from '../../src/sim/simnode.js';
import { awsNode, ENA_KERNEL, ENA_MAC, ENA_VFIO, PF, read, sriovNode, tool } from './tools-helpers.js';

/**
 * `dpdk-cni bind / unbind / bind --status` on simulated nodes. No kernel acts on a simulated
 * node's sysfs, so these tests assert the exact attribute writes the tool makes (what the kernel
 * would act on) and the tool's honest report that the device did not move; the QEMU guest test
 * (test/e2e/vm/checks/tools.sh) proves the real effect.
 */
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-bind-');
});
afterEach(() => dir.cleanup());

const dev = (pci: string) => `sys/bus/pci/devices/${pci}`;
const known = (pci: string) => `var/lib/cni/dpdk-cni/known/${pci}.json`;
const FAST = ['--timeout', '0.2'];

describe('bind: the sysfs writes', () => {
  it('binds a kernel NIC to vfio-pci with driver_override + unbind + drivers_probe, recording its MAC/MTU first', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', ...FAST], n.root);
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('vfio-pci');
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe(ENA_KERNEL);
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe(ENA_KERNEL);
    expect(JSON.parse(read(n.root, known(ENA_KERNEL)) ?? '{}')).toEqual({ pci: ENA_KERNEL, netdev: 'ens7', mac: ENA_MAC, mtu: 9001, driver: 'ena' });
    expect(r.stdout.split('\n')).toEqual([
      `${ENA_KERNEL}: ena (ens7, ${ENA_MAC}, mtu 9001) -> vfio-pci`,
      `  recorded ens7's MAC ${ENA_MAC} and MTU 9001 in /var/lib/cni/dpdk-cni/known/${ENA_KERNEL}.json`,
      `  wrote "vfio-pci" to /sys/bus/pci/devices/${ENA_KERNEL}/driver_override`,
      `  wrote "${ENA_KERNEL}" to /sys/bus/pci/drivers/ena/unbind`,
      `  wrote "${ENA_KERNEL}" to /sys/bus/pci/drivers_probe`,
      '  note: netdev ens7 is not in this network namespace; its use was not checked',
      '',
    ]);
    // nothing moved the simulated device: the tool says so instead of claiming success
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`after the sysfs writes, ${ENA_KERNEL} is bound to ena, not vfio-pci`);
    expect(r.stderr).toContain('simulated node');
  });

  it('writes in the kernel-documented order and prints each write (--json lists them)', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--json', ...FAST], n.root);
    expect(r.code).toBe(2);
    expect(r.json.devices[0]).toMatchObject({ pci: ENA_KERNEL, status: 'failed' });
    const d = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--dry-run', '--json'], n.root);
    expect(d.code).toBe(0);
    expect(d.json.devices[0].status).toBe('planned');
    expect(d.json.devices[0].writes).toEqual([
      { path: `/sys/bus/pci/devices/${ENA_KERNEL}/driver_override`, value: 'vfio-pci' },
      { path: '/sys/bus/pci/drivers/ena/unbind', value: ENA_KERNEL },
      { path: '/sys/bus/pci/drivers_probe', value: ENA_KERNEL },
    ]);
  });

  it('--dry-run prints the plan and changes nothing', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--dry-run'], n.root);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ENA_KERNEL}: ena (ens7, ${ENA_MAC}, mtu 9001) -> vfio-pci (dry run: nothing changed)`);
    expect(r.stdout).toContain(`would write "vfio-pci" to /sys/bus/pci/devices/${ENA_KERNEL}/driver_override`);
    expect(r.stdout).toContain(`would write "${ENA_KERNEL}" to /sys/bus/pci/drivers/ena/unbind`);
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('(null)\n');
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe('');
    expect(read(n.root, known(ENA_KERNEL))).toBeUndefined();
  });

  it('is idempotent: a device already on the driver is left alone, exit 0, no writes', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_VFIO, '--driver', 'vfio-pci'], n.root);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ENA_VFIO}: already bound to vfio-pci`);
    expect(r.stdout).toContain('nothing to do');
    expect(read(n.root, `${dev(ENA_VFIO)}/driver_override`)).toBe('(null)\n');
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe('');
    expect(read(n.root, 'sys/bus/pci/drivers/vfio-pci/unbind')).toBe('');
  });

  it('--driver kernel clears driver_override, unbinds from vfio-pci and probes (kernel ID matching picks the driver)', () => {
    const n = awsNode(dir.path);
    n.bind(ENA_KERNEL, 'vfio-pci');
    sh('sh', ['-c', `printf vfio-pci > ${join(n.root, dev(ENA_KERNEL), 'driver_override')}`]);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'kernel', '--dry-run', '--json'], n.root);
    expect(r.json.devices[0].writes).toEqual([
      { path: `/sys/bus/pci/devices/${ENA_KERNEL}/driver_override`, value: '\n' },
      { path: '/sys/bus/pci/drivers/vfio-pci/unbind', value: ENA_KERNEL },
      { path: '/sys/bus/pci/drivers_probe', value: ENA_KERNEL },
    ]);
    const x = tool(['bind', ENA_KERNEL, '--driver', 'kernel', ...FAST], n.root);
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('\n');
    expect(read(n.root, 'sys/bus/pci/drivers/vfio-pci/unbind')).toBe(ENA_KERNEL);
    expect(x.code).toBe(2);
    expect(x.stderr).toContain('not its kernel driver');
  });

  it('unbind writes the driver\'s unbind file and clears driver_override; a device without a driver is left alone', () => {
    const n = awsNode(dir.path);
    sh('sh', ['-c', `printf vfio-pci > ${join(n.root, dev(ENA_VFIO), 'driver_override')}`]);
    const r = tool(['unbind', ENA_VFIO, ...FAST], n.root);
    expect(read(n.root, 'sys/bus/pci/drivers/vfio-pci/unbind')).toBe(ENA_VFIO);
    expect(read(n.root, `${dev(ENA_VFIO)}/driver_override`)).toBe('\n');
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe('');
    expect(r.code).toBe(2); // the simulated device keeps its driver link
    n.unbind(ENA_VFIO);
    const again = tool(['unbind', ENA_VFIO], n.root);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('without a driver; nothing to do');
  });
});

describe('bind: refusals and errors', () => {
  let net: NetFixture;
  beforeEach(() => {
    net = new NetFixture();
  });
  afterEach(() => net.cleanup());

  it.runIf(isRoot)('refuses a NIC whose netdev is up with an address, unless --force', () => {
    const ifname = `dcb${net.id}`;
    net.veth(ifname);
    expect(sh('ip', ['addr', 'add', '192.0.2.10/24', 'dev', ifname]).code).toBe(0);
    expect(sh('ip', ['link', 'set', ifname, 'up']).code).toBe(0);
    const n = awsNode(dir.path, { netdev: ifname });
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci'], n.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing to rebind ${ENA_KERNEL}`);
    expect(r.stderr).toContain(`${ifname} is up with addresses 192.0.2.10/24 and routes 192.0.2.0/24`);
    expect(r.stderr).toContain('--force');
    // nothing was touched
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('(null)\n');
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
    expect(read(n.root, known(ENA_KERNEL))).toBeUndefined();
    // the same interface down still has its address: still in use (rebinding would lose it)
    sh('ip', ['link', 'set', ifname, 'down']);
    const down = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--dry-run'], n.root);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`${ifname} has addresses 192.0.2.10/24`);
    sh('ip', ['link', 'set', ifname, 'up']);
    // --force goes ahead and says why
    const f = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--force', ...FAST], n.root);
    expect(f.stdout).toContain('--force: going ahead although');
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('vfio-pci');
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe(ENA_KERNEL);
  });

  it('refuses a device a live pod holds (allocation marker), unless --force', () => {
    const n = awsNode(dir.path);
    const marker = { key: { net: 'dpdk-net', containerID: 'c0ffee', ifname: 'net1' }, netns: `/proc/${process.pid}/ns/net` };
    sh('sh', ['-c', `mkdir -p ${n.root}/var/lib/cni/dpdk-cni/devices && echo '${JSON.stringify(marker)}' > ${n.root}/var/lib/cni/dpdk-cni/devices/${ENA_VFIO}.json`]);
    const r = tool(['unbind', ENA_VFIO], n.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('dpdk-cni attached it to container c0ffee (network dpdk-net, net1)');
    expect(read(n.root, 'sys/bus/pci/drivers/vfio-pci/unbind')).toBe('');
    expect(tool(['unbind', ENA_VFIO, '--force', '--dry-run'], n.root).code).toBe(0);
  });

  it('refuses a device that is not a network device (the instance\'s NVMe disk)', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', '0000:00:04.0', '--driver', 'vfio-pci'], n.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('0000:00:04.0 is not a network device (PCI class 0x010802)');
    expect(read(n.root, 'sys/bus/pci/drivers/nvme/unbind')).toBe('');
  });

  it('unknown and malformed PCI addresses fail before any device is touched', () => {
    const n = awsNode(dir.path);
    const u = tool(['bind', '0000:00:09.0', '--driver', 'vfio-pci'], n.root);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('no PCI device 0000:00:09.0 on this node');
    expect(u.stderr).toContain('dpdk-cni bind --status');
    const m = tool(['bind', ENA_KERNEL, '00:07.0', '--driver', 'vfio-pci', '--force'], n.root);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('"00:07.0" is not a PCI address: use the full form dddd:bb:dd.f');
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('(null)\n');
  });

  it('invalid driver names are rejected; a missing --driver is explained', () => {
    const n = awsNode(dir.path);
    for (const bad of ['../vfio-pci', 'vfio pci', '']) {
      const r = tool(['bind', ENA_KERNEL, '--driver', bad], n.root);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/invalid driver name|needs --driver/);
    }
    const none = tool(['bind', ENA_KERNEL], n.root);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('bind needs --driver');
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe('');
  });

  it('a driver that is not registered cannot be loaded on a simulated node', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'igb_uio'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('driver igb_uio is not registered');
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
  });

  it('vfio-pci without an IOMMU group and with no-IOMMU mode off is refused with the fix', () => {
    const n = awsNode(dir.path);
    n.noiommu(false);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vfio-pci cannot take 0000:00:07.0: it has no IOMMU group');
    expect(r.stderr).toContain('enable_unsafe_noiommu_mode');
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
  });
});

describe('bind --status', () => {
  it('groups network devices by driver kind like dpdk-devbind.py, with vDPA devices', () => {
    const { node, vfs, vdpaPci } = sriovNode(dir.path);
    const r = tool(['bind', '--status'], node.root);
    expect(r.code).toBe(0);
    const [dpdk, kernel, none, vdpa] = r.stdout.split(/\n\n/);
    expect(dpdk).toContain('Network devices using a DPDK-compatible driver');
    expect(dpdk).toContain(`${vfs[0]} 8086:1889 drv=vfio-pci numa=0 iommu_group=`);
    expect(dpdk).toContain(`pf=${PF} vf=1`);
    expect(kernel).toContain(`${PF} 8086:1592 drv=ice if=ens1f0 numa=0`);
    expect(kernel).toContain('vfs=4');
    expect(kernel).toContain(`${vfs[3]} 8086:1889 drv=iavf if=ens1f0v3`);
    expect(kernel).toContain(`${vdpaPci} 15b3:101e drv=mlx5_core`);
    expect(kernel).toContain('vdpa=vdpa0');
    expect(none).toContain('<none>');
    expect(vdpa).toContain(`vdpa0 parent=${vdpaPci} drv=vhost_vdpa dev=/dev/vhost-vdpa-0`);
    const j = tool(['bind', '--status', '--json'], node.root).json;
    expect(j.dpdk.map((e: any) => e.pci)).toEqual(vfs.slice(0, 2));
    expect(j.kernel.map((e: any) => e.pci)).toEqual([PF, vfs[2], vfs[3], vdpaPci]);
    expect(j.vdpa).toEqual([{ name: 'vdpa0', parent: vdpaPci, driver: 'vhost_vdpa', chardev: '/dev/vhost-vdpa-0' }]);
  });

  it('lists a device without a driver and marks no-IOMMU groups', () => {
    const n = awsNode(dir.path);
    n.unbind(ENA_KERNEL);
    const r = tool(['bind', '--status'], n.root);
    expect(r.stdout).toMatch(/Network devices with no driver\n=+\n0000:00:07\.0 1d0f:ec20 drv=\(none\)/);
    expect(r.stdout).toMatch(/0000:00:06\.0 1d0f:ec20 drv=vfio-pci numa=0 iommu_group=\d+\(noiommu\) vfio=\/dev\/vfio\/noiommu-\d+/);
    expect(r.stdout).not.toContain('0000:00:04.0');
  });
});

it('leaves no temporary files in the state directory', () => {
  const n = awsNode(dir.path);
  tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', ...FAST], n.root);
  const d = join(n.root, 'var/lib/cni/dpdk-cni/known');
  expect(existsSync(d)).toBe(true);
  expect(readdirSync(d)).toEqual([`${ENA_KERNEL}.json`]);
  void SimNode;
});
