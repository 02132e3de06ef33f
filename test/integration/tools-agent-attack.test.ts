import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { BIN, cni, isRoot, REPO, sh, tempDir, TEST_BIN } from '../helpers/cni.js';
import { NetFixture, nsName } from '../helpers/netns.js';
import { fakeIpPf } from '../helpers/fake-pf.js';
import { awsNode, PF, read, snapshot, sriovNode, tool } from './tools-helpers.js';

/**
 * Issue #18: the node agent (`node apply`, `reap`) attacked as a black box from what
 * docs/node-file.md and docs/reference.md promise. Each test here broke a promise on the code
 * before its fix.
 */
let dir: { path: string; cleanup: () => void };
let files: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-agent-attack-');
  files = tempDir('dpdk-cni-agent-attack-files-');
});
afterEach(() => {
  dir.cleanup();
  files.cleanup();
});

const FAST = ['--timeout', '0.2'];
function nodeFile(content: unknown): string {
  const p = join(files.path, 'node.json');
  writeFileSync(p, JSON.stringify(content, null, 2));
  return p;
}
const apply = (root: string, content: unknown, ...args: string[]) => tool(['node', 'apply', '-f', nodeFile(content), ...FAST, ...args], root);
/** every file under the node root with its content and mode */

describe('a node file with errors: names that are none', () => {
  it('"." and ".." as a PF netdev name, a resourcePrefix that is not a DNS name (empty, a space, a "/"): exit 2 listing each', () => {
    const n = new SimNode(dir.path);
    const r = apply(n.root, {
      vfs: [{ pf: '..', count: 1 }],
      drivers: [{ driver: 'vfio-pci', pf: '.' }],
      devicePlugin: { resourceList: [{ resourceName: 'a', resourcePrefix: '' }, { resourceName: 'b', resourcePrefix: 'bad prefix' }, { resourceName: 'c', resourcePrefix: 'x.io/' }, { resourceName: 'd', resourcePrefix: 'example.com' }] },
    });
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(lines).toEqual([
      '  - vfs.0.pf: a PF netdev name (ens1f0) or PCI address (0000:3b:00.0)',
      '  - drivers.0.pf: a PF netdev name (ens1f0) or PCI address (0000:3b:00.0)',
      ...[0, 1, 2].map((i) => `  - devicePlugin.resourceList.${i}.resourcePrefix: a resource prefix: a DNS name such as intel.com (Kubernetes takes <prefix>/<name>)`),
    ]);
  });
});

describe('a VF a DPDK application or VM holds open (the device plugin gave it to a pod: no dpdk-cni marker)', () => {
  /** /proc/<pid>/fd of the simulated node: testpmd with VF 0's /dev/vfio group open */
  function holdVf0(root: string, vf0: string): string {
    const group = readlinkSync(join(root, `sys/bus/pci/devices/${vf0}/iommu_group`)).split('/').pop()!;
    mkdirSync(join(root, 'proc/4343/fd'), { recursive: true });
    writeFileSync(join(root, 'proc/4343/comm'), 'dpdk-testpmd\n');
    symlinkSync(`/dev/vfio/${group}`, join(root, 'proc/4343/fd/9'));
    return `/dev/vfio/${group} is open in process 4343 (dpdk-testpmd)`;
  }

  it('node apply does not change the PF\'s VF count (writing 0 destroys every VF) nor rebind the PF: exit 1, nothing written', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    const held = holdVf0(n.root, vfs[0]!);
    const before = snapshot(n.root);
    for (const f of [{ vfs: [{ pf: 'ens1f0', count: 8 }] }, { vfs: [{ pf: PF, count: 0 }] }, { drivers: [{ driver: 'vfio-pci', pci: [PF] }] }]) {
      const r = apply(n.root, f);
      expect(r.code, `${JSON.stringify(f)}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`SR-IOV PF ${PF} has VFs a DPDK application or VM holds open: VF 0 (${vfs[0]}): ${held}`);
      expect(r.stderr).toContain('nothing was changed');
    }
    expect(snapshot(n.root)).toEqual(before);
    // the same check in dpdk-cni bind, which node apply shares for the PF
    const b = tool(['bind', PF, '--driver', 'vfio-pci', ...FAST], n.root);
    expect(b.code).toBe(1);
    expect(read(n.root, 'sys/bus/pci/drivers/ice/unbind')).toBe('');
  });

  it('one VM holding two VFs\' groups is named for each of them', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    const groups = vfs.slice(0, 2).map((vf) => readlinkSync(join(n.root, `sys/bus/pci/devices/${vf}/iommu_group`)).split('/').pop()!);
    mkdirSync(join(n.root, 'proc/4646/fd'), { recursive: true });
    writeFileSync(join(n.root, 'proc/4646/comm'), 'qemu-kvm\n');
    groups.forEach((g, i) => symlinkSync(`/dev/vfio/${g}`, join(n.root, `proc/4646/fd/${20 + i}`)));
    const r = apply(n.root, { vfs: [{ pf: PF, count: 0 }] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`VF 0 (${vfs[0]}): /dev/vfio/${groups[0]} is open in process 4646 (qemu-kvm); VF 1 (${vfs[1]}): /dev/vfio/${groups[1]} is open in process 4646 (qemu-kvm)`);
  });
});

describe('a vDPA parent function (its vDPA devices go with its driver)', () => {
  it('is not rebound while a process holds its /dev/vhost-vdpa-N (exit 1, by node apply and by bind)', () => {
    const { node: n, vdpaPci } = sriovNode(dir.path);
    mkdirSync(join(n.root, 'proc/4444/fd'), { recursive: true });
    writeFileSync(join(n.root, 'proc/4444/comm'), 'qemu-kvm\n');
    symlinkSync('/dev/vhost-vdpa-0', join(n.root, 'proc/4444/fd/12'));
    const before = snapshot(n.root);
    const r = apply(n.root, { drivers: [{ driver: 'vfio-pci', pci: [vdpaPci] }] });
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toContain(`refusing to rebind ${vdpaPci}: its vDPA device is in use: /dev/vhost-vdpa-0 is open in process 4444 (qemu-kvm)`);
    const b = tool(['bind', vdpaPci, '--driver', 'vfio-pci', ...FAST], n.root);
    expect(b.code, b.stdout).toBe(1);
    expect(snapshot(n.root)).toEqual(before);
  });

  it('a file that rebinds a vDPA parent and wants a vDPA device on it contradicts itself (exit 2, nothing changed)', () => {
    const { node: n, vdpaPci } = sriovNode(dir.path);
    const before = snapshot(n.root);
    const both = apply(n.root, { drivers: [{ driver: 'vfio-pci', pci: [vdpaPci] }], vdpa: [{ name: 'vdpa0', mgmtdev: `pci/${vdpaPci}`, driver: 'vhost_vdpa' }] });
    expect(both.code, both.stdout).toBe(2);
    expect(both.stderr).toContain(`- vdpa.0: vdpa0 is made on ${vdpaPci}, which drivers.0 puts on vfio-pci: a vDPA device needs its parent on a kernel driver that manages vDPA devices`);
    expect(snapshot(n.root)).toEqual(before);
  });

  it('a parent put on its vDPA management driver first (virtio-pci → vp-vdpa, the QEMU guest\'s shape) gets its vDPA device made after the rebind', () => {
    const n = new SimNode(dir.path);
    n.pci('0000:00:14.0', { driver: 'vp-vdpa', vendor: '1af4', device: '1041' }); // vp-vdpa is registered
    n.pci('0000:00:13.0', { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
    n.netdev('0000:00:13.0', 'dcnivdpaparent', { virtio: 0 }); // a name no link here has: its use is not judged
    const file = { drivers: [{ driver: 'vp-vdpa', pci: ['0000:00:13.0'] }], vdpa: [{ name: 'vdpa0', mgmtdev: 'pci/0000:00:13.0', driver: 'vhost_vdpa' }] };
    const before = snapshot(n.root);
    const dry = apply(n.root, file, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('vdpa dev add name vdpa0 mgmtdev pci/0000:00:13.0 once 0000:00:13.0 is on its new driver');
    expect(dry.stdout.indexOf('0000:00:13.0 on vp-vdpa')).toBeLessThan(dry.stdout.indexOf('vDPA device vdpa0'));
    expect(snapshot(n.root)).toEqual(before);
  });
});

describe('a file that rebinds an SR-IOV PF (its VFs go with its driver)', () => {
  it('and wants VFs on it (a count, or a VF\'s driver) contradicts itself: exit 2, nothing changed', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    const before = snapshot(n.root);
    const count = apply(n.root, { vfs: [{ pf: 'ens1f0', count: 4 }], drivers: [{ driver: 'vfio-pci', pci: [PF] }] });
    expect(count.code, count.stdout).toBe(2);
    expect(count.stderr).toContain(`- drivers.0: rebinding the SR-IOV PF ${PF} (${PF} on vfio-pci) destroys its VFs, and vfs.0 wants 4 VF(s) on it`);
    const vf = apply(n.root, { drivers: [{ driver: 'vfio-pci', pf: 'ens1f0', vfs: '0-1' }, { driver: 'vfio-pci', pci: [PF] }] });
    expect(vf.code, vf.stdout).toBe(2);
    expect(vf.stderr).toContain(`- drivers.1: rebinding the SR-IOV PF ${PF} (${PF} on vfio-pci) destroys its VFs, and drivers.0 binds its VF ${vfs[0]}`);
    expect(snapshot(n.root)).toEqual(before);
    // without VFs wanted it is the operator's call
    expect(apply(n.root, { vfs: [{ pf: 'ens1f0', count: 0 }], drivers: [{ driver: 'vfio-pci', pci: [PF] }] }, '--dry-run').code).toBe(0);
  });
});

describe('what a refusal tells the operator to do', () => {
  it('never "pass --force", which node apply refuses as an unknown argument: the override that exists, bind --force, by hand', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/devices'), { recursive: true });
    writeFileSync(join(n.root, `var/lib/cni/dpdk-cni/devices/${vfs[0]}.json`), JSON.stringify({ key: { net: 'dpdk-net', containerID: 'podF', ifname: 'net1' }, netns: `/proc/${process.pid}/ns/net` }));
    const r = apply(n.root, { drivers: [{ driver: 'kernel', pci: [vfs[0]!] }] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing to rebind ${vfs[0]}: dpdk-cni attached it to container podF`);
    expect(r.stderr).not.toContain('pass --force');
    expect(r.stderr).toContain(`node apply has no --force: to override, rebind it by hand with "dpdk-cni bind ${vfs[0]} --driver kernel --force"`);
    expect(tool(['node', 'apply', '-f', nodeFile({}), '--force'], n.root).code).toBe(2);
  });
});

describe('one PF named twice in vfs (its netdev name and its PCI address)', () => {
  it('is an error (exit 2, nothing changed): two counts for one PF made every apply write both', () => {
    const { node: n } = sriovNode(dir.path);
    const before = snapshot(n.root);
    const r = apply(n.root, { vfs: [{ pf: 'ens1f0', count: 2 }, { pf: PF, count: 6 }] });
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toContain(`- vfs.1: ${PF} is the PF vfs.0 names (ens1f0): give each PF once`);
    expect(snapshot(n.root)).toEqual(before);
  });
});

describe('the notes of a plan', () => {
  it('a rule choosing a device an earlier rule chose for the same driver is not "chooses no device"', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    const r = apply(n.root, { drivers: [{ driver: 'vfio-pci', pci: [vfs[2]!] }, { driver: 'vfio-pci', mac: ['02:00:00:00:00:02'] }, { driver: 'vfio-pci', pf: 'ens1f0', vfs: '2' }, { driver: 'vfio-pci', mac: ['02:00:00:00:00:99'] }] }, '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.steps.map((s: any) => s.id)).toEqual([`driver:${vfs[2]}`]);
    expect(r.json.notes).toEqual(['drivers.3 (mac 02:00:00:00:00:99) chooses no device on this node']);
  });
});

describe('a VF the vfs step of the same file destroys, chosen by address or MAC', () => {
  it('is planned against the VFs the node will have: re-created ones are bound once back, a removed one or a MAC is an error (exit 2)', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    // VF 0 is on vfio-pci now, but 4 → 8 VFs writes 0 first: the new VF 0 comes back on its default driver
    const grow = apply(n.root, { vfs: [{ pf: 'ens1f0', count: 8 }], drivers: [{ driver: 'vfio-pci', pci: [vfs[0]!] }] }, '--dry-run', '--json');
    expect(grow.code, grow.stderr).toBe(0);
    expect(grow.json.steps.map((s: any) => [s.id, s.status, s.actions])).toEqual([
      [`vfs:ens1f0`, 'planned', [`write "0" to /sys/bus/pci/devices/${PF}/sriov_numvfs`, `write "8" to /sys/bus/pci/devices/${PF}/sriov_numvfs`]],
      [`driver:${vfs[0]}`, 'planned', [`bind ${vfs[0]} to vfio-pci once it exists`]],
    ]);
    // 4 → 2 VFs: VF 3 is gone after the vfs step; "unchanged" there made a second apply fail (no such device)
    const before = snapshot(n.root);
    const shrink = apply(n.root, { vfs: [{ pf: 'ens1f0', count: 2 }], drivers: [{ driver: 'iavf', pci: [vfs[3]!] }] });
    expect(shrink.code, shrink.stdout).toBe(2);
    expect(shrink.stderr).toContain(`- drivers.0: ${vfs[3]} is VF 3 of ens1f0, which vfs.0 removes (ens1f0 will have 2 VF(s))`);
    const mac = apply(n.root, { vfs: [{ pf: 'ens1f0', count: 8 }], drivers: [{ driver: 'vfio-pci', mac: ['02:00:00:00:00:02'] }] });
    expect(mac.code, mac.stdout).toBe(2);
    expect(mac.stderr).toContain(`- drivers.0: ${vfs[2]} is VF 2 of ens1f0, whose VFs vfs.0 re-creates: a new VF does not keep the old one's MAC; choose it with "pf" and "vfs"`);
    expect(snapshot(n.root)).toEqual(before);
  });
});

describe('the device plugin config is merged as it is when its step runs', () => {
  it('a resource another writer added while the earlier steps ran (seconds: new VFs) is kept', async () => {
    const { node: n } = sriovNode(dir.path);
    const DP = join(n.root, 'etc/pcidp/config.json');
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    writeFileSync(DP, JSON.stringify({ resourceList: [{ resourceName: 'old_pool', selectors: [{ drivers: ['iavf'] }] }] }));
    const p = spawn(BIN, ['node', 'apply', '-f', nodeFile({ vfs: [{ pf: 'ens1f0', count: 5 }], devicePlugin: { resourceList: [{ resourceName: 'intel.com/dpdk_pool', selectors: [{ drivers: ['vfio-pci'] }] }] } }), '--timeout', '30'], { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: n.root } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((res) => p.once('exit', (c) => res(c)));
    try {
      // the vfs step wrote the new count (planning is long done): meanwhile another writer adds a resource
      const numvfs = join(n.realDir(PF), 'sriov_numvfs');
      for (let i = 0; i < 400 && readFileSync(numvfs, 'utf8').trim() !== '5'; i++) await new Promise((r) => setTimeout(r, 25));
      writeFileSync(DP, JSON.stringify({ resourceList: [{ resourceName: 'old_pool', selectors: [{ drivers: ['iavf'] }] }, { resourceName: 'added_meanwhile', selectors: [{ drivers: ['iavf'] }] }] }));
      // then the kernel's part: VF 4 appears
      n.pci('0000:3b:02.4', { driver: 'iavf', device: '1889', parent: PF });
      symlinkSync(n.devDir('0000:3b:02.4', PF), join(n.realDir(PF), 'virtfn4'));
      expect(await exited, out).toBe(0);
    } finally {
      p.kill('SIGKILL');
    }
    expect(JSON.parse(readFileSync(DP, 'utf8')).resourceList.map((r: any) => r.resourceName)).toEqual(['old_pool', 'added_meanwhile', 'dpdk_pool']);
  }, 60_000);
});

describe('vendorDevice and the VFs the vfs step of the same file makes', () => {
  it('chooses them at the addresses they will have, so the second apply has nothing left to bind', () => {
    // 0 → 2 VFs: no VF to match yet; the PF's sriov_vf_device says what they will be
    const n = new SimNode(dir.path);
    n.iommu('dmar0');
    n.sriovPf('0000:af:00.0', { netdev: 'ens9f0', numVfs: 0 });
    writeFileSync(join(n.realDir('0000:af:00.0'), 'sriov_vf_device'), '1889\n');
    const fresh = apply(n.root, { vfs: [{ pf: 'ens9f0', count: 2 }], drivers: [{ driver: 'vfio-pci', vendorDevice: ['8086:1889'] }] }, '--dry-run', '--json');
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.json.steps.map((s: any) => [s.id, s.actions])).toEqual([
      ['vfs:ens9f0', ['write "2" to /sys/bus/pci/devices/0000:af:00.0/sriov_numvfs']],
      ['driver:0000:af:02.0', ['bind 0000:af:02.0 to vfio-pci once it exists']],
      ['driver:0000:af:02.1', ['bind 0000:af:02.1 to vfio-pci once it exists']],
    ]);
    expect(fresh.json.notes).toEqual([]);
  });

  it('a VF chosen by its address that the vfs step makes (at boot there are none yet) is bound once it is there, not "no PCI device"', () => {
    const n = new SimNode(dir.path);
    n.iommu('dmar0');
    n.sriovPf('0000:af:00.0', { netdev: 'ens9f0', numVfs: 0 });
    const r = apply(n.root, { vfs: [{ pf: 'ens9f0', count: 2 }], drivers: [{ driver: 'vfio-pci', pci: ['0000:af:02.1'] }] }, '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.steps.map((s: any) => [s.id, s.actions])).toEqual([
      ['vfs:ens9f0', ['write "2" to /sys/bus/pci/devices/0000:af:00.0/sriov_numvfs']],
      ['driver:0000:af:02.1', ['bind 0000:af:02.1 to vfio-pci once it exists']],
    ]);
    expect(apply(n.root, { vfs: [{ pf: 'ens9f0', count: 2 }], drivers: [{ driver: 'vfio-pci', pci: ['0000:af:02.2'] }] }).stderr).toContain('- drivers.0: no PCI device 0000:af:02.2 on this node');
  });

  it('4 → 6 VFs without sriov_vf_device: the VFs matched now stand for the ones added', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    const r = apply(n.root, { vfs: [{ pf: 'ens1f0', count: 6 }], drivers: [{ driver: 'vfio-pci', vendorDevice: ['8086:1889'] }] }, '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.steps.map((s: any) => s.id)).toEqual(['vfs:ens1f0', ...vfs.map((v) => `driver:${v}`), 'driver:0000:3b:02.4', 'driver:0000:3b:02.5']);
  });
});

describe('vDPA devices on VFs the vfs step of the same file makes (a node after reboot: no VFs yet)', () => {
  /** the vDPA shape of docs/node-files/vdpa-vfs.json as the node is at boot: the PF without VFs */
  function bootNode(root: string, numVfs = 0): SimNode {
    const n = new SimNode(root);
    n.iommu('dmar0');
    const vfs = n.sriovPf('0000:5e:00.0', { netdev: 'ens2f0', driver: 'mlx5_core', numVfs, offset: 2, vfDriver: 'mlx5_core' });
    if (vfs[0]) n.vdpa(vfs[0], 'vdpa0', 'vhost_vdpa', { index: 0 });
    return n;
  }

  it('vdpa-vfs.json plans the VFs, then each vDPA device once its VF is there (exit 0), instead of "no PCI device" (exit 2)', () => {
    const n = bootNode(dir.path);
    const before = snapshot(n.root);
    const r = tool(['node', 'apply', '-f', join(REPO, 'docs/node-files/vdpa-vfs.json'), ...FAST, '--dry-run', '--json'], n.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.steps.map((s: any) => [s.id, s.status])).toEqual([['vfs:ens2f0', 'planned'], ['vdpa:vdpa0', 'planned'], ['vdpa:vdpa1', 'planned'], ['device-plugin', 'planned']]);
    expect(r.json.steps[1].actions[0]).toBe("vdpa dev add name vdpa0 mgmtdev pci/0000:5e:00.2 once ens2f0's VF 0 is there");
    expect(snapshot(n.root)).toEqual(before);
  });

  it('a VF count change re-makes the vDPA device on a VF (not "unchanged"); one on a VF the new count removes is an error', () => {
    const n = bootNode(dir.path, 2);
    const grow = apply(n.root, { vfs: [{ pf: 'ens2f0', count: 3 }], vdpa: [{ name: 'vdpa0', mgmtdev: 'pci/0000:5e:00.2', driver: 'vhost_vdpa' }] }, '--dry-run', '--json');
    expect(grow.code, grow.stderr).toBe(0);
    expect(grow.json.steps.map((s: any) => [s.id, s.status])).toEqual([['vfs:ens2f0', 'planned'], ['vdpa:vdpa0', 'planned']]);
    const shrink = apply(n.root, { vfs: [{ pf: 'ens2f0', count: 1 }], vdpa: [{ name: 'vdpa1', mgmtdev: 'pci/0000:5e:00.3', driver: 'vhost_vdpa' }] });
    expect(shrink.code, shrink.stdout).toBe(2);
    expect(shrink.stderr).toContain('- vdpa.0: 0000:5e:00.3 is VF 1 of ens2f0, which vfs.0 removes (ens2f0 will have 1 VF(s))');
  });

  it('the VF count is not changed while a process holds the /dev/vhost-vdpa-N of a VF\'s vDPA device (exit 1)', () => {
    const n = bootNode(dir.path, 2);
    mkdirSync(join(n.root, 'proc/4545/fd'), { recursive: true });
    writeFileSync(join(n.root, 'proc/4545/comm'), 'qemu-kvm\n');
    symlinkSync('/dev/vhost-vdpa-0', join(n.root, 'proc/4545/fd/3'));
    const r = apply(n.root, { vfs: [{ pf: 'ens2f0', count: 3 }] });
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toContain('VF 0 (0000:5e:00.2): /dev/vhost-vdpa-0 is open in process 4545 (qemu-kvm)');
  });
});

describe('a device plugin config path apply will not write', () => {
  it('a symbolic link at config.json is found when planning: exit 2, nothing changed (no-IOMMU mode stays off), the link and its target untouched', () => {
    const n = awsNode(dir.path);
    writeFileSync(join(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'N\n');
    const target = join(files.path, 'elsewhere.json');
    writeFileSync(target, '{"resourceList":[]}\n');
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    symlinkSync(target, join(n.root, 'etc/pcidp/config.json'));
    const before = snapshot(n.root);
    const r = apply(n.root, { noIommu: true, devicePlugin: { resourceList: [{ resourceName: 'intel.com/x', selectors: [{ drivers: ['vfio-pci'] }] }] } });
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toContain('cannot be applied to this node; nothing was changed');
    expect(r.stderr).toContain(`- devicePlugin: /etc/pcidp/config.json is a symbolic link (to ${target}); apply does not write through links`);
    expect(r.stderr).not.toContain('dp-config');
    expect(snapshot(n.root)).toEqual(before);
    expect(readFileSync(target, 'utf8')).toBe('{"resourceList":[]}\n');
    expect(readlinkSync(join(n.root, 'etc/pcidp/config.json'))).toBe(target);
  });
});

describe.runIf(isRoot)('reap --every and SIGTERM', () => {
  let net: NetFixture;
  beforeEach(() => {
    net = new NetFixture('ag');
  });
  afterEach(() => net.cleanup());

  it('SIGTERM while a release waits on the IPAM plugin stops the loop promptly with exit 0; the attachment keeps its state', async () => {
    const node = new SimNode(dir.path);
    const { vfs, env } = fakeIpPf(node, PF, { netdev: 'ens1f0', numVfs: 2, mtu: 9000 });
    // the attachment's IPAM plugin: host-local for ADD, then one that hangs for the reaper's DEL
    const bin = join(node.root, 'cni-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'host-local'), `#!/bin/sh\n[ "$CNI_COMMAND" = DEL ] && exec sleep 600\nexec /usr/lib/cni/host-local\n`, { mode: 0o755 });
    const dead = net.netns('term');
    const add = cni({ command: 'ADD', conf: { cniVersion: '1.0.0', name: 'ag-net', type: 'dpdk-cni', deviceID: vfs[1], vlan: 100, ipam: { type: 'host-local', subnet: '10.79.0.0/24', dataDir: join(node.root, 'ipam') } }, containerId: 'termpod', netns: dead, root: node.root, bin: TEST_BIN, env, path: bin });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(sh('ip', ['netns', 'del', nsName(dead)]).code).toBe(0);
    const p = spawn(TEST_BIN, ['reap', '--every', '0.2', '--cni-path', bin], { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: node.root, DPDK_CNI_IPAM_TIMEOUT_MS: '120000', ...env } });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    try {
      // the pass is in the IPAM DEL once its sleep runs
      for (let i = 0; i < 200 && !/sleep 600/.test(sh('ps', ['-eo', 'args']).stdout); i++) await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      p.kill('SIGTERM');
      const [code, signal] = await new Promise<[number | null, string | null]>((res) => p.once('exit', (c, s) => res([c, s])));
      expect([code, signal], err).toEqual([0, null]);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(JSON.parse(err.trim().split('\n').at(-1)!)).toMatchObject({ msg: 'stopping', signal: 'SIGTERM' });
      expect(existsSync(join(node.root, 'var/lib/cni/dpdk-cni/attachments/ag-net@termpod@net1.json'))).toBe(true);
    } finally {
      p.kill('SIGKILL');
    }
  }, 60_000);
});
