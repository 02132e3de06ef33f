import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoot, REPO, sh, tempDir } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { lockName } from '../../src/sys/lock.js';
import { NetFixture } from '../helpers/netns.js';
import { awsNode, ENA_KERNEL, ENA_MAC, ENA_VFIO, PF, read, snapshot, sriovNode, tool } from './tools-helpers.js';

/**
 * `dpdk-cni node apply -f FILE` on simulated nodes. No kernel acts on a simulated node's sysfs, so
 * a change that needs one (a rebind, new VFs, vdpa dev add) is seen through its writes and the
 * tool's honest failure; the QEMU guest check (test/e2e/vm/checks/apply.sh) proves the real effect.
 */
let dir: { path: string; cleanup: () => void };
let filesDir: { path: string; cleanup: () => void };
let files: string;
beforeEach(() => {
  dir = tempDir('dpdk-cni-apply-');
  filesDir = tempDir('dpdk-cni-apply-files-');
  files = filesDir.path;
});
afterEach(() => {
  dir.cleanup();
  filesDir.cleanup();
});

const dev = (pci: string) => `sys/bus/pci/devices/${pci}`;
const DP = 'etc/pcidp/config.json';
const FAST = ['--timeout', '0.2'];
/** write a node file, return its path */
function nodeFile(content: unknown, name = 'node.json'): string {
  const p = join(files, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}
const apply = (root: string, file: string, ...args: string[]) => tool(['node', 'apply', '-f', file, ...FAST, ...args], root);

describe('a node file with errors', () => {
  it('changes nothing and exits 2 listing every violation', () => {
    const n = awsNode(dir.path);
    const before = snapshot(n.root);
    const f = nodeFile({
      noIommu: 'yes',
      vfs: [{ pf: 'ens1f0', count: -1 }, { pf: 'ens1f0', count: 4 }],
      drivers: [{ driver: 'vfio-pci', pci: ['00:06.0'] }, { driver: 'vfio-pci', pci: [ENA_VFIO], mac: [ENA_MAC] }, { driver: 'vfio-pci', vfs: '0-3' }, { drivr: 'x' }],
      vdpa: [{ name: 'vdpa0', mgmtdev: '0000:00:13.0', driver: 'vhost' }],
      devicePlugin: { file: 'config.json', resourceList: [{ resourceName: 'a/b/c' }] },
      extra: 1,
    });
    const r = apply(n.root, f);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(r.stderr).toContain(`dpdk-cni node apply: ${f} has ${lines.length} error(s); nothing was changed:`);
    for (const want of [
      /^ {2}- \(top\): unknown field "extra"$/,
      /^ {2}- noIommu: boolean expected$/,
      /^ {2}- vfs\.0\.count: at least 0 expected$/,
      /^ {2}- drivers\.3\.driver: missing \(string expected\)$/,
      /^ {2}- drivers\.0\.pci\.0: a full PCI address/,
      /^ {2}- drivers\.3: unknown field "drivr"$/,
      /^ {2}- vdpa\.0\.mgmtdev: pci\/<PCI address>/,
      /^ {2}- vdpa\.0\.driver: one of "vhost_vdpa", "virtio_vdpa" expected$/,
      /^ {2}- devicePlugin\.file: an absolute path/,
      /^ {2}- devicePlugin\.resourceList\.0\.resourceName: /,
      // the cross-field rules are checked too, on the parts that have the right shape
      /^ {2}- drivers\.1: give exactly one of pci, vendorDevice, pf \(with vfs\) or mac$/,
      /^ {2}- drivers\.2\.vfs: needs pf$/,
    ]) expect(lines.some((l) => want.test(l)), `${want} in\n${r.stderr}`).toBe(true);
    expect(snapshot(n.root)).toEqual(before);
  });

  it('the rules one field cannot say are violations too: one selector per rule, vfs needs pf, no repeats', () => {
    const n = awsNode(dir.path);
    const r = apply(n.root, nodeFile({
      vfs: [{ pf: 'ens1f0', count: 2 }, { pf: 'ens1f0', count: 4 }],
      drivers: [{ driver: 'vfio-pci', pci: [ENA_VFIO], mac: [ENA_MAC] }, { driver: 'vfio-pci', vendorDevice: ['1d0f:ec20'], vfs: '1' }, { driver: 'vfio-pci', pf: 'ens1f0', vfs: '3-1' }],
      devicePlugin: { resourceList: [{ resourceName: 'x.io/a' }, { resourceName: 'a', resourcePrefix: 'x.io' }, { resourceName: 'y.io/b', resourcePrefix: 'y.io' }] },
    }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('- drivers.0: give exactly one of pci, vendorDevice, pf (with vfs) or mac');
    expect(r.stderr).toContain('- drivers.1.vfs: needs pf');
    expect(r.stderr).toContain('- drivers.2.vfs: a range runs backwards in "3-1"');
    expect(r.stderr).toContain('- vfs.1: "ens1f0" is given twice');
    expect(r.stderr).toContain('- devicePlugin.resourceList.1: "x.io/a" is given twice');
    expect(r.stderr).toContain('- devicePlugin.resourceList.2: give the prefix either in resourcePrefix or in resourceName, not both');
  });

  it('a file that is not JSON, missing, or not a regular file is refused (exit 2)', () => {
    const n = awsNode(dir.path);
    expect(apply(n.root, nodeFile('{"drivers": [', 'bad.json')).stderr).toContain('not valid JSON');
    const missing = apply(n.root, join(files, 'nope.json'));
    expect([missing.code, missing.stderr]).toEqual([2, `dpdk-cni node apply: ${join(files, 'nope.json')} does not exist; nothing was changed\n`]);
    expect(apply(n.root, files).code).toBe(2);
  });
});

describe('node apply on an AWS-like node (ENA, no IOMMU)', () => {
  const ena = (extra: Record<string, unknown> = {}) => ({
    noIommu: true,
    drivers: [{ driver: 'vfio-pci', pci: [ENA_VFIO] }],
    devicePlugin: { resourceList: [{ resourceName: 'aws.amazon.com/ena_dpdk', deviceType: 'netDevice', selectors: [{ vendors: ['1d0f'], devices: ['ec20'], drivers: ['vfio-pci'] }] }] },
    ...extra,
  });

  it('is idempotent: the first apply writes the device plugin config, the second changes nothing and says so', () => {
    const n = awsNode(dir.path);
    const f = nodeFile(ena());
    const first = apply(n.root, f);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('unchanged  vfio no-IOMMU mode on\n');
    expect(first.stdout).toContain(`unchanged  ${ENA_VFIO} on vfio-pci\n`);
    expect(first.stdout).toContain('changed    /etc/pcidp/config.json has aws.amazon.com/ena_dpdk\n');
    expect(first.stdout).toMatch(/applied 1 change\(s\)\n$/);
    // the '/' prefix of the seeds' resource names becomes resourcePrefix, as the device plugin reads it
    expect(JSON.parse(read(n.root, DP)!)).toEqual({ resourceList: [{ resourcePrefix: 'aws.amazon.com', resourceName: 'ena_dpdk', deviceType: 'netDevice', selectors: [{ vendors: ['1d0f'], devices: ['ec20'], drivers: ['vfio-pci'] }] }] });
    const before = snapshot(n.root);
    const second = apply(n.root, f);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`nothing to change: the node is as ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} describes\n$`));
    expect(second.stdout).not.toMatch(/^(changed|would)/m);
    expect(snapshot(n.root)).toEqual(before);
    const j = apply(n.root, f, '--json');
    expect(j.json).toMatchObject({ status: 'unchanged', changes: 0 });
    expect(j.json.steps.map((s: any) => [s.id, s.status])).toEqual([['noiommu', 'unchanged'], [`driver:${ENA_VFIO}`, 'unchanged'], ['device-plugin', 'unchanged']]);
  });

  it('merges into an existing config.json: other resources and fields kept, a resource of the same name replaced in place', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    const other = { resourceName: 'other_pool', resourcePrefix: 'example.com', selectors: { vendors: ['8086'] } };
    const old = { resourceName: 'ena_dpdk', resourcePrefix: 'aws.amazon.com', selectors: [{ pciAddresses: ['0000:00:09.0'] }] };
    writeFileSync(join(n.root, DP), JSON.stringify({ resourceList: [old, other], logLevel: 10 }));
    const r = apply(n.root, nodeFile(ena()));
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(read(n.root, DP)!);
    expect(c.logLevel).toBe(10);
    expect(c.resourceList.map((x: any) => `${x.resourcePrefix}/${x.resourceName}`)).toEqual(['aws.amazon.com/ena_dpdk', 'example.com/other_pool']);
    expect(c.resourceList[0].selectors).toEqual([{ vendors: ['1d0f'], devices: ['ec20'], drivers: ['vfio-pci'] }]);
    expect(c.resourceList[1]).toEqual(other);
  });

  it('a config.json an operator made 0640 stays 0640 after the merge (a new one is 0644)', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    writeFileSync(join(n.root, DP), JSON.stringify({ resourceList: [] }), { mode: 0o640 });
    chmodSync(join(n.root, DP), 0o640);
    expect(apply(n.root, nodeFile(ena())).code).toBe(0);
    expect(statSync(join(n.root, DP)).mode & 0o777).toBe(0o640);
    expect(JSON.parse(read(n.root, DP)!).resourceList).toHaveLength(1);
  });

  it('never rewrites a config.json whose numbers would change (an integer beyond 2^53): exit 2, nothing changed', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    const text = '{"resourceList":[{"resourceName":"kept","selectors":{"vendors":["8086"]},"additionalInfo":{"id":12345678901234567890}}]}';
    writeFileSync(join(n.root, DP), text);
    const before = snapshot(n.root);
    const r = apply(n.root, nodeFile(ena()));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds the integer(s) 12345678901234567890, too large to be written back unchanged');
    expect(snapshot(n.root)).toEqual(before);
    expect(read(n.root, DP)).toBe(text);
  });

  it('never replaces a config path that holds another file', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    writeFileSync(join(n.root, DP), 'not json at all');
    const before = snapshot(n.root);
    const r = apply(n.root, nodeFile(ena()));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/etc/pcidp/config.json exists and is not a device plugin config');
    expect(r.stderr).toContain('nothing was changed');
    expect(snapshot(n.root)).toEqual(before);
  });

  it('--dry-run prints every write (no-IOMMU mode, the rebind, the config) and changes nothing', () => {
    const n = awsNode(dir.path);
    writeFileSync(join(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'N\n');
    const before = snapshot(n.root);
    const r = apply(n.root, nodeFile(ena({ drivers: [{ driver: 'vfio-pci', vendorDevice: ['1d0f:ec20'] }] })), '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('would      vfio no-IOMMU mode on\n             write "1" to /sys/module/vfio/parameters/enable_unsafe_noiommu_mode\n');
    expect(r.stdout).toContain(`unchanged  ${ENA_VFIO} on vfio-pci\n`);
    // vfio-pci cannot take it before no-IOMMU mode is on: planned again when the step runs
    expect(r.stdout).toContain(`would      ${ENA_KERNEL} on vfio-pci\n             bind ${ENA_KERNEL} to vfio-pci after no-IOMMU mode is on\n`);
    expect(r.stdout).toContain('would      /etc/pcidp/config.json has aws.amazon.com/ena_dpdk\n             add aws.amazon.com/ena_dpdk in /etc/pcidp/config.json\n');
    expect(r.stdout).toMatch(/dry run: 3 change\(s\) to make; nothing was changed\n$/);
    expect(snapshot(n.root)).toEqual(before);
    // with no-IOMMU mode on, the writes themselves
    writeFileSync(join(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'Y\n');
    const on = apply(n.root, nodeFile(ena({ drivers: [{ driver: 'vfio-pci', vendorDevice: ['1d0f:ec20'] }] })), '--dry-run');
    expect(on.stdout).toContain(`would      ${ENA_KERNEL} on vfio-pci\n             write "vfio-pci" to /sys/bus/pci/devices/${ENA_KERNEL}/driver_override\n             write "${ENA_KERNEL}" to /sys/bus/pci/drivers/ena/unbind\n             write "${ENA_KERNEL}" to /sys/bus/pci/drivers_probe\n`);
  });

  it('a failing step is reported with what was applied before it; the steps after it are not run', () => {
    const n = awsNode(dir.path);
    writeFileSync(join(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'N\n');
    const r = apply(n.root, nodeFile(ena({ drivers: [{ driver: 'vfio-pci', pci: [ENA_KERNEL] }] })), '--json');
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ status: 'failed', failedStep: `driver:${ENA_KERNEL}`, changes: 1 });
    expect(r.json.steps.map((s: any) => [s.id, s.status])).toEqual([['noiommu', 'changed'], [`driver:${ENA_KERNEL}`, 'failed'], ['device-plugin', 'not-run']]);
    expect(r.stderr).toContain(`dpdk-cni node apply: failed at driver:${ENA_KERNEL} (${ENA_KERNEL} on vfio-pci): after the sysfs writes, ${ENA_KERNEL} is bound to ena, not vfio-pci`);
    expect(r.stderr).toContain('applied before it: vfio no-IOMMU mode on');
    expect(r.stderr).toContain('not run: device-plugin');
    expect(read(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode')).toBe('1');
    expect(read(n.root, DP)).toBeUndefined();
  });

  it('a device is chosen by MAC, also once it is on vfio-pci (the MAC bind recorded), so a second apply changes nothing', () => {
    const n = awsNode(dir.path);
    const f = nodeFile({ drivers: [{ driver: 'vfio-pci', mac: [ENA_MAC.toUpperCase()] }] });
    const dry = apply(n.root, f, '--dry-run', '--json');
    expect(dry.json.steps.map((s: any) => s.id)).toEqual([`driver:${ENA_KERNEL}`]);
    // what the kernel does after the rebind: ENA_KERNEL on vfio-pci, its netdev gone; bind recorded the MAC
    n.bind(ENA_KERNEL, 'vfio-pci');
    sh('rm', ['-rf', join(n.root, 'sys/class/net/ens7'), join(n.realDir(ENA_KERNEL), 'net')]);
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/known'), { recursive: true, mode: 0o700 });
    writeFileSync(join(n.root, `var/lib/cni/dpdk-cni/known/${ENA_KERNEL}.json`), JSON.stringify({ pci: ENA_KERNEL, netdev: 'ens7', mac: ENA_MAC, mtu: 9001, driver: 'ena' }), { mode: 0o600 });
    const again = apply(n.root, f);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`unchanged  ${ENA_KERNEL} on vfio-pci\n`);
    expect(again.stdout).toContain('nothing to change');
  });

  it('two rules choosing one device for different drivers is an error on this node (exit 2), nothing changed', () => {
    const n = awsNode(dir.path);
    const r = apply(n.root, nodeFile({ drivers: [{ driver: 'vfio-pci', vendorDevice: ['1d0f:ec20'] }, { driver: 'kernel', pci: [ENA_KERNEL] }, { driver: 'vfio-pci', pci: ['0000:00:1f.0'] }] }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`- drivers.1: ${ENA_KERNEL} is also chosen by drivers.0, for vfio-pci, not its kernel driver`);
    expect(r.stderr).toContain('- drivers.2: no PCI device 0000:00:1f.0 on this node');
  });
});

describe.runIf(isRoot)('node apply never rebinds a device the host uses', () => {
  let net: NetFixture;
  beforeEach(() => {
    net = new NetFixture('ap');
  });
  afterEach(() => net.cleanup());

  it('refused (exit 1), naming the address and route; nothing is changed, not even the other steps', () => {
    const ifname = net.veth(`ap${net.id}`);
    for (const a of [['link', 'set', ifname, 'up'], ['addr', 'add', '192.0.2.10/24', 'dev', ifname]]) expect(sh('ip', a).code).toBe(0);
    const n = awsNode(dir.path, { netdev: ifname });
    writeFileSync(join(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'N\n');
    const before = snapshot(n.root);
    const r = apply(n.root, nodeFile({ noIommu: true, drivers: [{ driver: 'vfio-pci', vendorDevice: ['1d0f:ec20'] }] }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot be applied to this node; nothing was changed');
    expect(r.stderr).toContain(`- refused: refusing to rebind ${ENA_KERNEL}: the host is using its netdev: ${ifname} is up with addresses 192.0.2.10/24`);
    expect(snapshot(n.root)).toEqual(before);
  });
});

describe('node apply on an SR-IOV node (VF counts, VF ranges, vDPA)', () => {
  const LIVE = `/proc/${process.pid}/ns/net`;

  it('a VF count already there is unchanged; another one writes 0 first, then the count, and binds VFs by index range at the addresses they will have', () => {
    const { node: n } = sriovNode(dir.path);
    expect(apply(n.root, nodeFile({ vfs: [{ pf: 'ens1f0', count: 4 }], drivers: [{ driver: 'vfio-pci', pf: 'ens1f0', vfs: '0-1' }] })).stdout).toMatch(/nothing to change/);
    const before = snapshot(n.root);
    const r = apply(n.root, nodeFile({ vfs: [{ pf: PF, count: 8 }], drivers: [{ driver: 'vfio-pci', pf: PF, vfs: '6-7' }] }), '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.steps[0]).toMatchObject({ id: `vfs:${PF}`, what: `8 VF(s) on ${PF} (now 4)`, actions: [`write "0" to /sys/bus/pci/devices/${PF}/sriov_numvfs`, `write "8" to /sys/bus/pci/devices/${PF}/sriov_numvfs`] });
    // offset 16, stride 1 from 0000:3b:00.0: VF 6 is 0000:3b:02.6
    expect(r.json.steps.slice(1).map((s: any) => [s.id, s.actions])).toEqual([
      ['driver:0000:3b:02.6', ['bind 0000:3b:02.6 to vfio-pci once it exists']],
      ['driver:0000:3b:02.7', ['bind 0000:3b:02.7 to vfio-pci once it exists']],
    ]);
    expect(snapshot(n.root)).toEqual(before);
    // the PF named by netdev in one place and by address in the other is the same PF
    const mixed = apply(n.root, nodeFile({ vfs: [{ pf: 'ens1f0', count: 8 }], drivers: [{ driver: 'vfio-pci', pf: PF, vfs: '7' }] }), '--dry-run', '--json');
    expect(mixed.json.steps.map((s: any) => s.id)).toEqual(['vfs:ens1f0', 'driver:0000:3b:02.7']);
    // a selector that chooses nothing on this node is a note, not an error
    const none = apply(n.root, nodeFile({ drivers: [{ driver: 'vfio-pci', vendorDevice: ['dead:beef'] }] }));
    expect([none.code, none.stdout]).toEqual([0, `note: drivers.0 (vendorDevice dead:beef) chooses no device on this node\nnothing to change: the node is as ${join(files, 'node.json')} describes\n`]);
    const past = apply(n.root, nodeFile({ drivers: [{ driver: 'vfio-pci', pf: 'ens1f0', vfs: '3-5' }] }));
    expect(past.code).toBe(2);
    expect(past.stderr).toContain('- drivers.0: ens1f0 has 4 VF(s): there is no VF 4');
  });

  it('changing the VF count is refused while a VF is in a live pod (exit 1), and more VFs than sriov_totalvfs is an error', () => {
    const { node: n, vfs } = sriovNode(dir.path);
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/devices'), { recursive: true });
    writeFileSync(join(n.root, `var/lib/cni/dpdk-cni/devices/${vfs[1]}.json`), JSON.stringify({ key: { net: 'dpdk-net', containerID: 'podA', ifname: 'net1' }, netns: LIVE }));
    const r = apply(n.root, nodeFile({ vfs: [{ pf: 'ens1f0', count: 2 }] }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`- refused: vfs.0: changing ens1f0 from 4 to 2 VFs destroys its VFs first: SR-IOV PF ${PF} has VFs in pods: VF 1 (${vfs[1]}) is attached to container podA`);
    const big = apply(n.root, nodeFile({ vfs: [{ pf: 'ens1f0', count: 65 }] }));
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('- vfs.0: ens1f0 supports at most 64 VFs (sriov_totalvfs), not 65');
  });

  it('new VFs on a simulated node: the writes are made and the tool says the VFs did not come', () => {
    const { node: n } = sriovNode(dir.path);
    const r = apply(n.root, nodeFile({ vfs: [{ pf: 'ens1f0', count: 6 }] }));
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`FAILED     6 VF(s) on ens1f0 (now 4): wrote "0" to /sys/bus/pci/devices/${PF}/sriov_numvfs, wrote "6" to /sys/bus/pci/devices/${PF}/sriov_numvfs, but ens1f0 shows 4 VF(s), not 6`);
    expect(r.stderr).toContain('applied before it: nothing');
  });

  it('vDPA: an existing device on the asked driver is unchanged; another driver is a rebind on the vdpa bus; a new one is made with vdpa dev add', () => {
    const { node: n, vdpaPci } = sriovNode(dir.path);
    const same = apply(n.root, nodeFile({ vdpa: [{ name: 'vdpa0', mgmtdev: `pci/${vdpaPci}`, driver: 'vhost_vdpa' }] }));
    expect([same.code, same.stdout]).toEqual([0, `unchanged  vDPA device vdpa0 on ${vdpaPci}, vhost_vdpa\nnothing to change: the node is as ${join(files, 'node.json')} describes\n`]);
    const r = apply(n.root, nodeFile({ vdpa: [{ name: 'vdpa0', mgmtdev: `pci/${vdpaPci}`, driver: 'virtio_vdpa' }, { name: 'vdpa1', mgmtdev: `pci/${vdpaPci}`, driver: 'vhost_vdpa', mac: '02:00:00:00:0d:01' }] }), '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`would      vDPA device vdpa0 on ${vdpaPci}, virtio_vdpa (now vhost_vdpa)\n             write "vdpa0" to /sys/bus/vdpa/drivers/vhost_vdpa/unbind\n             write "vdpa0" to /sys/bus/vdpa/drivers/virtio_vdpa/bind\n`);
    expect(r.stdout).toContain(`would      vDPA device vdpa1 on ${vdpaPci}, vhost_vdpa\n             vdpa dev add name vdpa1 mgmtdev pci/${vdpaPci} mac 02:00:00:00:0d:01\n`);
    const other = apply(n.root, nodeFile({ vdpa: [{ name: 'vdpa0', mgmtdev: `pci/${PF}`, driver: 'vhost_vdpa' }] }));
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`- vdpa.0: vdpa0 exists on ${vdpaPci}, not on ${PF}`);
  });

  it('a vhost-vdpa device a pod holds is not moved to another driver (exit 1)', () => {
    const { node: n, vdpaPci } = sriovNode(dir.path);
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/devices'), { recursive: true });
    writeFileSync(join(n.root, `var/lib/cni/dpdk-cni/devices/${vdpaPci}.json`), JSON.stringify({ key: { net: 'vdpa-net', containerID: 'podV', ifname: 'net1' }, netns: LIVE }));
    const r = apply(n.root, nodeFile({ vdpa: [{ name: 'vdpa0', mgmtdev: `pci/${vdpaPci}`, driver: 'virtio_vdpa' }] }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refused: vdpa.0: refusing to move vdpa0 from vhost_vdpa to virtio_vdpa: dpdk-cni attached ${vdpaPci} to container podV`);
    expect(existsSync(join(n.root, 'sys/bus/vdpa/drivers/vhost_vdpa/unbind'))).toBe(false);
  });
});

describe('the node files for the seed shapes (docs/node-files/), each on a simulated node of its shape', () => {
  const NODE_FILES = join(REPO, 'docs/node-files');
  const SHAPES: Record<string, (root: string) => string> = {
    'aws-ena-dpdk.json': (root) => awsNode(root).root,
    'sriov-vf-dpdk.json': (root) => sriovNode(root).node.root,
    'vdpa-vfs.json': (root) => {
      const n = new SimNode(root);
      n.iommu('dmar0');
      const vfs = n.sriovPf('0000:5e:00.0', { netdev: 'ens2f0', driver: 'mlx5_core', numVfs: 2, offset: 2, vfDriver: 'mlx5_core' });
      n.vdpa(vfs[0]!, 'vdpa0', 'vhost_vdpa', { index: 0 });
      return n.root;
    },
  };

  it('every node file has a shape here', () => {
    expect(readdirSync(NODE_FILES).filter((f) => f.endsWith('.json')).sort()).toEqual(Object.keys(SHAPES).sort());
  });

  it.each(Object.keys(SHAPES))('%s: valid, and its dry run plans only what the node lacks (exit 0, nothing changed)', (file) => {
    const root = SHAPES[file]!(dir.path);
    const before = snapshot(root);
    const r = apply(root, join(NODE_FILES, file), '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.status).toMatch(/^(planned|unchanged)$/);
    expect(snapshot(root)).toEqual(before);
    expect(r.json.steps.find((s: any) => s.id === 'device-plugin')).toMatchObject({ status: 'planned' });
  });

  it('aws-ena-dpdk.json applied for real on the AWS shape, then again: nothing to change', () => {
    const root = SHAPES['aws-ena-dpdk.json']!(dir.path);
    const f = join(NODE_FILES, 'aws-ena-dpdk.json');
    const first = apply(root, f);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(read(root, DP)!).resourceList[0]).toMatchObject({ resourcePrefix: 'aws.amazon.com', resourceName: 'ena_dpdk' });
    expect(apply(root, f).stdout).toContain('nothing to change');
  });

  it('vdpa-vfs.json on its shape: VF count and vdpa0 unchanged, vdpa1 to be made on the second VF', () => {
    const root = SHAPES['vdpa-vfs.json']!(dir.path);
    const r = apply(root, join(NODE_FILES, 'vdpa-vfs.json'), '--dry-run', '--json');
    expect(r.json.steps.map((s: any) => [s.id, s.status])).toEqual([['vfs:ens2f0', 'unchanged'], ['vdpa:vdpa0', 'unchanged'], ['vdpa:vdpa1', 'planned'], ['device-plugin', 'planned']]);
    expect(r.json.steps[2].actions[0]).toBe('vdpa dev add name vdpa1 mgmtdev pci/0000:5e:00.3');
  });
});

describe('node apply takes the device locks CNI ADD/DEL/GC and bind hold', () => {
  it('a device whose lock is busy fails its step with nothing written to it; the steps before it stay applied', async () => {
    const n = awsNode(dir.path);
    writeFileSync(join(n.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'N\n');
    const s = createServer();
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.listen({ path: `\0${lockName(n.root, `pci/${ENA_KERNEL}`)}` }, () => res());
    });
    try {
      const r = tool(['node', 'apply', '-f', nodeFile({ noIommu: true, drivers: [{ driver: 'vfio-pci', pci: [ENA_KERNEL] }] }), ...FAST], n.root, { DPDK_CNI_LOCK_TIMEOUT_MS: '200' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`failed at driver:${ENA_KERNEL} (${ENA_KERNEL} on vfio-pci): ${ENA_KERNEL} is locked by another dpdk-cni operation`);
      expect(r.stderr).toContain('applied before it: vfio no-IOMMU mode on');
      expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).not.toBe('vfio-pci');
      expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
    } finally {
      s.close();
    }
  });
});
