import { mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cni, isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { SimNode } from '../../src/sim/simnode.js';
import { awsNode, ENA_KERNEL, ENA_VFIO, PF, read, tool } from './tools-helpers.js';

/**
 * Issue #14: the node tools attacked as the plugin was — hostile arguments, a host in use, a
 * messy node. Each test here broke a promise of the README/docs on the code before its fix.
 */
let dir: { path: string; cleanup: () => void };
let net: NetFixture;
const extra: string[] = [];
beforeEach(() => {
  dir = tempDir('dpdk-cni-attack-');
  net = new NetFixture();
});
afterEach(() => {
  for (const l of extra.splice(0)) sh('ip', ['link', 'del', l]);
  net.cleanup();
  dir.cleanup();
});

const FAST = ['--timeout', '0.2'];
const override = (pci: string) => `sys/bus/pci/devices/${pci}/driver_override`;
function ip(...a: string[]): void {
  const r = sh('ip', a);
  if (r.code !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
}
/** Nothing of the simulated AWS node's kernel NIC was touched. */
function untouched(root: string): void {
  expect(read(root, override(ENA_KERNEL))).toBe('(null)\n');
  expect(read(root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
  expect(read(root, 'sys/bus/pci/drivers_probe')).toBe('');
  expect(read(root, `var/lib/cni/dpdk-cni/known/${ENA_KERNEL}.json`)).toBeUndefined();
}

describe.runIf(isRoot)('a host in use', () => {
  it('rebinding or unbinding an SR-IOV PF whose VF netdev the host uses is refused (it would destroy that VF)', () => {
    const vfIf = net.veth(`dv${net.id}`);
    ip('link', 'set', vfIf, 'up');
    ip('addr', 'add', '198.18.78.40/24', 'dev', vfIf);
    const n = new SimNode(dir.path);
    n.iommu('dmar0');
    n.driver('vfio-pci');
    const vfs = n.sriovPf(PF, { netdev: 'nosuchpf0', numVfs: 2, vfOpts: (i) => (i === 1 ? { driver: 'iavf', netdev: vfIf, mac: '02:00:00:00:00:01' } : { driver: 'vfio-pci' }) });
    for (const args of [['unbind', PF], ['bind', PF, '--driver', 'vfio-pci'], ['bind', PF, '--driver', 'vfio-pci', '--dry-run']]) {
      const r = tool([...args, ...FAST], n.root);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`VF 1 (${vfs[1]}) netdev ${vfIf} is used by the host: ${vfIf} is up with addresses 198.18.78.40/24`);
      expect(r.stderr).toContain('rebinding the PF destroys them');
    }
    expect(read(n.root, 'sys/bus/pci/drivers/ice/unbind')).toBe('');
    expect(read(n.root, override(PF))).toBe('(null)\n');
    // --force still overrides, as for every other safety check
    const f = tool(['unbind', PF, '--force', ...FAST], n.root);
    expect(f.stdout).toContain('--force: going ahead although');
    expect(read(n.root, 'sys/bus/pci/drivers/ice/unbind')).toBe(PF);
  });

  it('a netdev that is one nexthop of a multipath (ECMP) route is in use: bind refuses, inspect says ADD fails with 111', () => {
    const ifname = net.veth(`dm${net.id}`);
    const other = net.veth(`do${net.id}`);
    for (const l of [ifname, other]) ip('link', 'set', l, 'up');
    ip('route', 'add', '198.18.77.0/24', 'nexthop', 'dev', other, 'weight', '1', 'nexthop', 'dev', ifname, 'weight', '1');
    const root = awsNode(dir.path, { netdev: ifname }).root;
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', ...FAST], root);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain(`the host is using its netdev: ${ifname} is up with routes 198.18.77.0/24 (multipath)`);
    untouched(root);
    const i = tool(['inspect', ENA_KERNEL, '--json'], root);
    expect(i.code).toBe(1);
    expect(i.json.plugin.refusalCode).toBe(111);
    // the route is still there: nothing took the device
    expect(sh('ip', ['route', 'show', '198.18.77.0/24']).stdout).toContain(`dev ${ifname}`);
  });
});

describe.runIf(isRoot)('the same test in CNI ADD: a multipath route', () => {
  it('ADD refuses the netdev with 111; with "allowInUse" DEL puts the whole multipath route back (the kernel dropped it)', () => {
    const nic = net.veth(`dn${net.id}`, { mac: '02:00:00:00:12:01' });
    const other = net.veth(`dp${net.id}`);
    for (const l of [nic, other]) ip('link', 'set', l, 'up');
    ip('route', 'add', '198.18.79.0/24', 'metric', '70', 'nexthop', 'dev', other, 'weight', '1', 'nexthop', 'dev', nic, 'weight', '2');
    const n = new SimNode(dir.path);
    const PCI = '0000:00:10.0';
    n.pci(PCI, { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
    n.netdev(PCI, nic, { virtio: 0, mac: '02:00:00:00:12:01' });
    const pod = net.netns();
    const conf = (more: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'mpath', type: 'dpdk-cni', deviceID: PCI, ...more });
    const r = cni({ command: 'ADD', root: n.root, netns: pod, conf: conf() });
    expect(r.json?.code, r.stdout).toBe(111);
    expect(r.json.msg).toContain('198.18.79.0/24 (multipath)');
    const mroute = () => sh('ip', ['route', 'show', '198.18.79.0/24']).stdout;
    expect(mroute()).toContain(`dev ${nic} weight 2`);
    const add = cni({ command: 'ADD', root: n.root, netns: pod, conf: conf({ allowInUse: true }) });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(mroute()).toBe(''); // the kernel removed the whole route with the netdev
    const del = cni({ command: 'DEL', root: n.root, netns: pod, conf: conf({ allowInUse: true }) });
    expect([del.code, del.stdout]).toEqual([0, '']);
    const back = mroute();
    expect(back).toContain('metric 70');
    expect(back).toContain(`dev ${other} weight 1`);
    expect(back).toContain(`dev ${nic} weight 2`);
  });
});

describe('a device a process has open', () => {
  it('a vfio-pci device whose /dev/vfio group a process holds (a DPDK app, a VM) is not rebound or unbound without --force', () => {
    const n = awsNode(dir.path);
    const group = readlinkSync(join(n.root, `sys/bus/pci/devices/${ENA_VFIO}/iommu_group`)).split('/').pop();
    // /proc/<pid>/fd of the simulated node: a DPDK process with the group's char device open
    mkdirSync(join(n.root, 'proc/4242/fd'), { recursive: true });
    writeFileSync(join(n.root, 'proc/4242/comm'), 'dpdk-testpmd\n');
    symlinkSync('/dev/null', join(n.root, 'proc/4242/fd/0'));
    symlinkSync(`/dev/vfio/noiommu-${group}`, join(n.root, 'proc/4242/fd/17'));
    for (const args of [['bind', ENA_VFIO, '--driver', 'kernel'], ['unbind', ENA_VFIO], ['bind', ENA_VFIO, '--driver', 'uio_pci_generic', '--dry-run']]) {
      const r = tool([...args, ...FAST], n.root);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`/dev/vfio/noiommu-${group} is open in process 4242 (dpdk-testpmd)`);
    }
    expect(read(n.root, 'sys/bus/pci/drivers/vfio-pci/unbind')).toBe('');
    const f = tool(['unbind', ENA_VFIO, '--force', ...FAST], n.root);
    expect(f.stdout).toContain('--force: going ahead although');
    expect(read(n.root, 'sys/bus/pci/drivers/vfio-pci/unbind')).toBe(ENA_VFIO);
  });
});

describe('a netdev another CNI plugin moved into a pod', () => {
  it('a VF on its kernel driver whose netdev is not in the host namespace (sriov-cni, host-device took it) is not rebound without --force', () => {
    const n = new SimNode(dir.path);
    n.iommu('dmar0');
    n.driver('vfio-pci');
    // VF 1 is on iavf, but sysfs shows no netdev in the host's namespace: it is in a pod's
    const vfs = n.sriovPf(PF, { netdev: 'ens1f0', numVfs: 2, vfOpts: (i) => ({ driver: i === 1 ? 'iavf' : 'vfio-pci' }) });
    const vf = vfs[1] as string;
    for (const args of [['bind', vf, '--driver', 'vfio-pci'], ['unbind', vf], ['bind', vf, '--driver', 'vfio-pci', '--dry-run']]) {
      const r = tool([...args, ...FAST], n.root);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`${vf} is on the kernel driver iavf but has no netdev in this network namespace`);
    }
    expect(read(n.root, override(vf))).toBe('(null)\n');
    expect(read(n.root, 'sys/bus/pci/drivers/iavf/unbind')).toBe('');
    const f = tool(['bind', vf, '--driver', 'vfio-pci', '--force', ...FAST], n.root);
    expect(f.stdout).toContain('--force: going ahead although');
    expect(read(n.root, override(vf))).toBe('vfio-pci');
  });
});

describe('pod-chosen names on the operator\'s terminal', () => {
  it('an interface name with terminal escape sequences (CNI_IFNAME comes from the pod) is printed escaped by doctor, inspect and bind', () => {
    const n = awsNode(dir.path);
    // CNI_IFNAME may hold any byte the kernel accepts in a name: ESC and BEL included
    const ifname = '\x1b[2J\x1b]0;x\x07';
    const key = { net: 'ena-net', containerID: 'deadbeef', ifname };
    const st = { version: 1, phase: 'added', key, netns: '/run/netns/dpdk-cni-attack-gone', mode: 'dpdk', pci: ENA_VFIO, driver: 'vfio-pci', netconf: '{}', ipam: false, createdAt: '2025-01-01T00:00:00Z' };
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/attachments'), { recursive: true });
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/devices'), { recursive: true });
    writeFileSync(join(n.root, `var/lib/cni/dpdk-cni/attachments/ena-net@deadbeef@${encodeURIComponent(ifname).replace(/\./g, '%2E')}.json`), JSON.stringify(st));
    writeFileSync(join(n.root, `var/lib/cni/dpdk-cni/devices/${ENA_VFIO}.json`), JSON.stringify({ key, netns: `/proc/${process.pid}/ns/net` }));
    const runs = [tool(['doctor', '--skip', 'cni-binary'], n.root), tool(['inspect', ENA_VFIO], n.root), tool(['unbind', ENA_VFIO, ...FAST], n.root)];
    for (const r of runs) {
      const all = r.stdout + r.stderr;
      expect(all).toContain('\\x1b[2J\\x1b]0;x\\x07');
      expect(all).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    }
    expect(runs[2]?.code).toBe(1); // the pod holds it: refused, naming the (escaped) interface
    // --json stays exact JSON: the name round-trips
    expect(tool(['inspect', ENA_VFIO, '--json'], n.root).stdout).toContain('\\u001b[2J');
  });
});

describe('nothing half-done after a failure', () => {
  it('a bind whose unbind write fails puts driver_override back (the device must not jump to vfio-pci at its next probe)', () => {
    const n = awsNode(dir.path);
    const unbind = join(n.root, 'sys/bus/pci/drivers/ena/unbind');
    rmSync(unbind);
    mkdirSync(unbind); // writing it fails (EISDIR), as a refusing driver would
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', ...FAST], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/sys/bus/pci/drivers/ena/unbind failed');
    expect(r.stderr).toContain('driver_override was put back');
    // cleared (what writing "\n" leaves in a plain file; the kernel shows "(null)" again)
    expect(read(n.root, override(ENA_KERNEL))).toBe('\n');
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe('');
  });

  it('... and a previous driver_override value is restored as it was', () => {
    const n = awsNode(dir.path);
    writeFileSync(join(n.root, override(ENA_KERNEL)), 'ena\n');
    const unbind = join(n.root, 'sys/bus/pci/drivers/ena/unbind');
    rmSync(unbind);
    mkdirSync(unbind);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', ...FAST], n.root);
    expect(r.code).toBe(2);
    expect(read(n.root, override(ENA_KERNEL))).toBe('ena');
  });
});

describe('hostile arguments', () => {
  it('--dry-run with --no-dry-run (or any flag with its negation) is refused: a dry run never becomes a real one', () => {
    const n = awsNode(dir.path);
    for (const args of [
      ['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--dry-run', '--no-dry-run'],
      ['unbind', ENA_KERNEL, '--no-dry-run', '--dry-run'],
      ['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--dry-run', '--dry-run=false'],
      ['unbind', ENA_KERNEL, '--force', '--no-force'],
    ]) {
      const r = tool([...args, ...FAST], n.root);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/--(dry-run|force) and --no-\1 \(or --\1=false\) contradict each other/);
      untouched(n.root);
    }
  });

  it('arguments after "--" are refused, not silently dropped', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', '--driver', 'vfio-pci', '--', ENA_KERNEL], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"--"');
    expect(r.stderr).toContain(ENA_KERNEL);
    expect(r.stderr).not.toContain('name at least one PCI address');
    const f = tool(['bind', '0000:00:04.0', '--driver', 'vfio-pci', '--', '--force'], n.root);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('"--"');
    untouched(n.root);
  });

  it('a huge argument is quoted cut in the message, not echoed in full', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', '0'.repeat(100_000), '--driver', 'vfio-pci'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeLessThan(1000);
    expect(r.stderr).toMatch(/\(1000\d\d characters\)/);
  });

  it('--timeout "" is refused instead of becoming 0 s', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--timeout', ''], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--timeout must be a number of seconds');
    untouched(n.root);
  });
});

describe('doctor\'s own options and the installed plugin', () => {
  it('a relative --cni-bin-dir or --dp-config is refused (it was glued to DPDK_CNI_ROOT: "/rootrelative/dir")', () => {
    const n = awsNode(dir.path);
    for (const opt of ['--cni-bin-dir', '--dp-config']) {
      const r = tool(['doctor', opt, 'relative/dir'], n.root);
      expect(r.code, opt).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`${opt} must be an absolute path`);
    }
  });

  it('an installed plugin that hangs: doctor says it did not answer in time (not "exited 127")', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'opt/cni/bin'), { recursive: true });
    writeFileSync(join(n.root, 'opt/cni/bin/dpdk-cni'), '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 });
    const r = tool(['doctor', '--json', '--skip', 'nic,state,dp-config,vdpa', '--plugin-timeout', '2'], n.root);
    const c = r.json.checks.find((x: any) => x.id === 'cni-binary');
    expect(c.status).toBe('fail');
    expect(c.message).toContain('did not answer within 2 s');
    expect(c.message).not.toContain('exited 127');
  }, 40_000);
});

describe('a messy node: what dp-config --check and doctor read', () => {
  function bounded(args: string[], root: string, cwd?: string): ReturnType<typeof spawnSync> {
    return spawnSync(BIN, args, { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: root }, encoding: 'utf8', timeout: 15_000, cwd });
  }

  it('a FIFO at /etc/pcidp/config.json: --check and doctor answer (not a regular file) instead of hanging', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    execFileSync('mkfifo', [join(n.root, 'etc/pcidp/config.json')]);
    const c = bounded(['dp-config', '--check', '--json'], n.root);
    expect(c.signal, 'dp-config --check hung on a FIFO').toBeNull();
    expect(c.status).toBe(2);
    expect(JSON.parse(c.stdout as string).findings[0].message).toContain('not a regular file');
    const d = bounded(['doctor', '--json', '--skip', 'cni-binary'], n.root);
    expect(d.signal, 'doctor hung on a FIFO').toBeNull();
    const dc = JSON.parse(d.stdout as string).checks.find((x: any) => x.id === 'dp-config');
    expect(dc.status).toBe('fail');
    expect(dc.message).toContain('not a regular file');
  });

  it('a config that is /dev/zero or larger than 1 MiB is refused by size, not read into memory', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    symlinkSync('/dev/zero', join(n.root, 'etc/pcidp/config.json'));
    const z = bounded(['dp-config', '--check', '--config', 'dev/zero'], n.root, '/');
    expect(z.signal).toBeNull();
    expect(z.status).toBe(2);
    expect(z.stdout).toContain('not a regular file');
    const d = bounded(['doctor', '--json', '--skip', 'cni-binary'], n.root);
    expect(d.signal, 'doctor read /dev/zero without end').toBeNull();
    rmSync(join(n.root, 'etc/pcidp/config.json'));
    writeFileSync(join(n.root, 'etc/pcidp/config.json'), `{"resourceList":[],"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`);
    const big = bounded(['dp-config', '--check'], n.root);
    expect(big.status).toBe(2);
    expect(big.stdout).toContain('larger than 1 MiB');
    // a ConfigMap mount is a symlink chain to a regular file: still read
    const real = join(n.root, 'etc/pcidp/..data-config.json');
    writeFileSync(real, '{"resourceList":[{"resourceName":"ena","resourcePrefix":"aws.amazon.com","selectors":[{"drivers":["vfio-pci"]}]}]}');
    rmSync(join(n.root, 'etc/pcidp/config.json'));
    symlinkSync('..data-config.json', join(n.root, 'etc/pcidp/config.json'));
    const ok = bounded(['dp-config', '--check'], n.root);
    expect(ok.status, `${ok.stdout}${ok.stderr}`).toBe(0);
  });
});
