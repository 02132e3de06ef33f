import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, cniAsync, tempDir, type CniCall } from '../helpers/cni.js';

/** DPDK mode on simulated nodes: no netns needed, so these run without root too. */
const LIVE = `/proc/${process.pid}/ns/net`; // a netns that stays alive for the test run
const PF = '0000:3b:00.0';

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let vfs: string[];
const call = (c: Omit<CniCall, 'root'>) => cni({ netns: LIVE, ...c, root: node.root });
const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'dpdk-net', type: 'dpdk-cni', ...extra });

beforeEach(() => {
  dir = tempDir();
  node = new SimNode(dir.path);
  node.pci('0000:00:06.0', { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  vfs = node.sriovPf(PF, { netdev: 'ens1f0', numVfs: 4, mtu: 9000 });
});
afterEach(() => dir.cleanup());

describe('DPDK mode: PF-less NIC on vfio-pci', () => {
  it('ADD describes the device for Multus, CHECK passes, DEL removes state, marker and repeats cleanly', () => {
    const add = call({ command: 'ADD', conf: conf({ deviceID: '0000:00:06.0' }) });
    expect(add.code).toBe(0);
    expect(add.json).toEqual({ cniVersion: '1.1.0', interfaces: [{ name: 'net1', sandbox: LIVE, pciID: '0000:00:06.0' }] });
    expect(add.stdout.trim().split('\n')).toHaveLength(1);
    const files = readdirSync(state('attachments'));
    expect(files).toEqual(['dpdk-net@c0ffee@net1.json']);
    expect(statSync(state('attachments', files[0]!)).mode & 0o777).toBe(0o600);
    expect(statSync(state('attachments')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(state('devices', '0000:00:06.0.json'), 'utf8')).netns).toBe(LIVE);

    const chk = call({ command: 'CHECK', conf: conf({ deviceID: '0000:00:06.0', prevResult: add.json }) });
    expect(chk.code).toBe(0);
    expect(chk.stdout).toBe('');

    expect(call({ command: 'DEL', conf: conf({ deviceID: '0000:00:06.0' }) }).code).toBe(0);
    expect(readdirSync(state('attachments'))).toEqual([]);
    expect(existsSync(state('devices', '0000:00:06.0.json'))).toBe(false);
    const again = call({ command: 'DEL', conf: conf({ deviceID: '0000:00:06.0' }) });
    expect([again.code, again.stdout]).toEqual([0, '']);
    const chk2 = call({ command: 'CHECK', conf: conf({ deviceID: '0000:00:06.0' }) });
    expect(chk2.json.code).toBe(108);
  });

  it('the device lock prints no deprecation warning, even with --pending-deprecation in NODE_OPTIONS', () => {
    const env = { NODE_OPTIONS: '--pending-deprecation' };
    const add = call({ command: 'ADD', conf: conf({ deviceID: '0000:00:06.0' }), env });
    expect(add.code, add.stderr).toBe(0);
    const del = call({ command: 'DEL', conf: conf({ deviceID: '0000:00:06.0' }), env });
    expect(del.code).toBe(0);
    expect(add.stderr + del.stderr).not.toMatch(/Deprecation|DEP0/);
  });

  it('CHECK fails when the device was unbound or rebound behind our back, naming the driver', () => {
    expect(call({ command: 'ADD', conf: conf({ deviceID: '0000:00:06.0' }) }).code).toBe(0);
    node.bind('0000:00:06.0', 'igb_uio');
    const c1 = call({ command: 'CHECK', conf: conf({ deviceID: '0000:00:06.0' }) });
    expect(c1.json.code).toBe(108);
    expect(c1.json.msg).toContain('bound to igb_uio, expected vfio-pci');
    node.unbind('0000:00:06.0');
    const c2 = call({ command: 'CHECK', conf: conf({ deviceID: '0000:00:06.0' }) });
    expect(c2.json.msg).toContain('device 0000:00:06.0 is bound to no driver, expected vfio-pci');
    // DEL still succeeds with the driver gone
    expect(call({ command: 'DEL', conf: conf({ deviceID: '0000:00:06.0' }) }).code).toBe(0);
  });

  it.each([
    [{ vlan: 100 }, 'vlan'],
    [{ spoofchk: 'off' }, 'spoofchk'],
    [{ trust: 'on' }, 'trust'],
    [{ link_state: 'enable' }, 'link_state'],
    [{ max_tx_rate: 100 }, 'max_tx_rate'],
    [{ mac: '02:00:00:00:00:42' }, 'mac (02:00:00:00:00:42)'],
  ])('a PF-less device refuses %o with code 103 naming %s, and leaves nothing behind', (extra, name) => {
    const r = call({ command: 'ADD', conf: conf({ deviceID: '0000:00:06.0', ...extra }) });
    expect(r.json.code).toBe(103);
    expect(r.json.msg).toContain(`so ${name} cannot be applied`);
    expect(existsSync(state('attachments')) ? readdirSync(state('attachments')) : []).toEqual([]);
  });

  it('accepts a MAC equal to the one the device last had (recorded by bind)', () => {
    mkdirSync(state('known'), { recursive: true });
    writeFileSync(state('known', '0000:00:06.0.json'), JSON.stringify({ pci: '0000:00:06.0', mac: '02:00:00:00:00:42', mtu: 9001 }));
    const r = call({ command: 'ADD', conf: conf({ deviceID: '0000:00:06.0', mac: '02:00:00:00:00:42' }) });
    expect(r.code).toBe(0);
    expect(r.json.interfaces[0]).toMatchObject({ mac: '02:00:00:00:00:42', mtu: 9001 });
  });

  it.each(['igb_uio', 'uio_pci_generic'])('a device on %s is attached in DPDK mode', (drv) => {
    node.bind('0000:00:06.0', drv);
    const r = call({ command: 'ADD', conf: conf({ deviceID: '0000:00:06.0' }) });
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(state('attachments', 'dpdk-net@c0ffee@net1.json'), 'utf8')).mode).toBe('dpdk');
  });
});

describe('DPDK mode: SR-IOV VF', () => {
  it('reports the PF MTU, refuses an MTU above it (code 2), accepts a lower one', () => {
    const a = call({ command: 'ADD', conf: conf({ cniVersion: '1.0.0', deviceID: vfs[1] }) });
    expect(a.json.interfaces[0]).toEqual({ name: 'net1', mtu: 9000, sandbox: LIVE, pciID: vfs[1] });
    const st = JSON.parse(readFileSync(state('attachments', 'dpdk-net@c0ffee@net1.json'), 'utf8'));
    expect(st.pf).toEqual({ pci: PF, netdev: 'ens1f0', vfIndex: 1 });
    const hi = call({ command: 'ADD', conf: conf({ deviceID: vfs[2], mtu: 9001 }), containerId: 'pod2' });
    expect(hi.json.code).toBe(2);
    expect(hi.json.msg).toMatch(/"mtu" 9001 is above the MTU of PF ens1f0 \(9000\)/);
    const lo = call({ command: 'ADD', conf: conf({ deviceID: vfs[2], mtu: 1500 }), containerId: 'pod2' });
    expect(lo.json.interfaces[0].mtu).toBe(1500);
  });

  it('down-converts the result for a 0.4.0 network (no mtu/pciID)', () => {
    const a = call({ command: 'ADD', conf: conf({ cniVersion: '0.4.0', deviceID: vfs[0] }) });
    expect(a.json).toEqual({ cniVersion: '0.4.0', interfaces: [{ name: 'net1', sandbox: LIVE }], dns: {} });
  });

  it('when VF settings cannot be applied (no such PF in the kernel), ADD fails with 104 and nothing is left half-done', () => {
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[0], vlan: 10 }) });
    expect(r.json.code).toBe(104);
    expect(r.json.msg).toMatch(/ens1f0/);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });

  it('IPAM is allocated and returned but not applied; DEL releases the lease', () => {
    const ipamDir = join(node.root, 'ipam');
    const c = conf({ deviceID: vfs[3], ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir: ipamDir } });
    const a = call({ command: 'ADD', conf: c });
    expect(a.code).toBe(0);
    expect(a.json.ips).toEqual([{ interface: 0, address: '10.77.0.2/24', gateway: '10.77.0.1' }]);
    expect(existsSync(join(ipamDir, 'dpdk-net', '10.77.0.2'))).toBe(true);
    expect(call({ command: 'DEL', conf: c }).code).toBe(0);
    expect(existsSync(join(ipamDir, 'dpdk-net', '10.77.0.2'))).toBe(false);
  });
});

describe('robustness of DEL and PF discovery', () => {
  it('DEL of an existing pod still works after its NAD was edited into an invalid config (uses the netconf saved at ADD)', () => {
    const ipamDir = join(node.root, 'ipam');
    const good = conf({ deviceID: vfs[0], ipam: { type: 'host-local', subnet: '10.79.0.0/24', dataDir: ipamDir } });
    expect(call({ command: 'ADD', conf: good }).code).toBe(0);
    const r = call({ command: 'DEL', conf: { ...good, vlan: 99999, mac: 'nope' } });
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(r.stderr).toMatch(/DEL uses the one saved at ADD/);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(join(ipamDir, 'dpdk-net')).filter((f) => f.startsWith('10.'))).toEqual([]);
    // without a saved attachment there is nothing to release: DEL succeeds and logs the invalid config
    const again = call({ command: 'DEL', conf: { ...good, vlan: 99999 } });
    expect([again.code, again.stdout]).toEqual([0, '']);
    expect(again.stderr).toMatch(/"reason":"invalid network configuration: field \\"vlan\\" must be <= 4094.*"msg":"the network configuration is invalid; DEL goes on/);
  });

  it('in switchdev mode the PF uplink is chosen, not a representor that sorts first', () => {
    const pfNet = join(node.realDir(PF), 'net');
    for (const [n, ppn] of [['ens1f0', 'p0'], ['eth0', 'pf0vf0'], ['eth1', 'pf0vf1']] as const) {
      mkdirSync(join(pfNet, n), { recursive: true });
      writeFileSync(join(pfNet, n, 'phys_port_name'), `${ppn}\n`);
    }
    writeFileSync(join(pfNet, 'ens1f0', 'mtu'), '9000\n');
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[1] }) }).code).toBe(0);
    expect(JSON.parse(readFileSync(state('attachments', 'dpdk-net@c0ffee@net1.json'), 'utf8')).pf.netdev).toBe('ens1f0');
  });
});

describe('device discovery errors', () => {
  it.each([
    ['../../etc', 7], ['0000:00:06.0/../x', 7], ['00:06.0', 7], ['0000:00:06.0.1', 7],
    ['0000:00:07.0', 100],
  ])('deviceID %s → code %i', (id, code) => {
    expect(call({ command: 'ADD', conf: conf({ deviceID: id }) }).json.code).toBe(code);
  });
  it('normalises an upper-case address', () => {
    node.pci('0000:af:00.1', { driver: 'vfio-pci' });
    expect(call({ command: 'ADD', conf: conf({ deviceID: '0000:AF:00.1' }) }).json.interfaces[0].pciID).toBe('0000:af:00.1');
  });
  it('no driver → 101 with the fix; a kernel driver without netdev → 101', () => {
    node.pci('0000:00:08.0', {});
    const r = call({ command: 'ADD', conf: conf({ deviceID: '0000:00:08.0' }) });
    expect(r.json.code).toBe(101);
    expect(r.json.msg).toMatch(/no driver bound.*dpdk-cni bind 0000:00:08.0 --driver vfio-pci/);
    node.pci('0000:00:09.0', { driver: 'nvme' });
    expect(call({ command: 'ADD', conf: conf({ deviceID: '0000:00:09.0' }) }).json.msg).toMatch(/bound to nvme, which is neither/);
  });
  it('deviceID precedence: runtimeConfig.deviceID > deviceID > pciBusID', () => {
    const r = call({ command: 'ADD', conf: conf({ pciBusID: vfs[0], deviceID: vfs[1], runtimeConfig: { deviceID: vfs[2] } }) });
    expect(r.json.interfaces[0].pciID).toBe(vfs[2]);
    const p = call({ command: 'ADD', conf: conf({ pciBusID: vfs[0] }), containerId: 'other' });
    expect(p.json.interfaces[0].pciID).toBe(vfs[0]);
  });
});

describe('allocation', () => {
  it('a second pod cannot take a device whose owner netns is alive (102)', () => {
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[0] }) }).code).toBe(0);
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[0] }), containerId: 'pod2' });
    expect(r.json.code).toBe(102);
    expect(r.json.msg).toContain('already allocated to container c0ffee');
  });
  it('a stale owner (netns gone, DEL never came) is healed at ADD and its state removed', async () => {
    // the first pod's netns: a process's own, gone when it exits
    const pod = spawn('sleep', ['60']);
    const podNetns = `/proc/${pod.pid}/ns/net`;
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[0] }), netns: podNetns }).code).toBe(0);
    await new Promise((r) => {
      pod.once('exit', r);
      pod.kill('SIGKILL');
    });
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[0] }), containerId: 'pod2' });
    expect(r.code).toBe(0);
    expect(readdirSync(state('attachments'))).toEqual(['dpdk-net@pod2@net1.json']);
    expect(JSON.parse(readFileSync(state('devices', `${vfs[0]}.json`), 'utf8')).key.containerID).toBe('pod2');
  });
  it('two pods racing for one device: exactly one wins, the other gets 102', async () => {
    const rs = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((id) => cniAsync({ command: 'ADD', conf: conf({ deviceID: vfs[0] }), containerId: id, netns: LIVE, root: node.root })));
    expect(rs.filter((r) => r.code === 0)).toHaveLength(1);
    expect(rs.filter((r) => r.json?.code === 102)).toHaveLength(3);
  });
});

describe('GC and STATUS', () => {
  it('GC releases attachments the runtime no longer lists, and only those of this network', () => {
    const ipamDir = join(node.root, 'ipam');
    const c = conf({ ipam: { type: 'host-local', subnet: '10.78.0.0/24', dataDir: ipamDir } });
    for (const [i, id] of ['keep', 'gone1', 'gone2'].entries()) {
      expect(call({ command: 'ADD', conf: { ...c, deviceID: vfs[i] }, containerId: id }).code).toBe(0);
    }
    expect(call({ command: 'ADD', conf: conf({ name: 'other-net', deviceID: vfs[3] }), containerId: 'x' }).code).toBe(0);
    const gc = call({ command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }] } });
    expect([gc.code, gc.stdout]).toEqual([0, '']);
    expect(readdirSync(state('attachments')).sort()).toEqual(['dpdk-net@keep@net1.json', 'other-net@x@net1.json']);
    expect(readdirSync(state('devices')).sort()).toEqual([`${vfs[0]}.json`, `${vfs[3]}.json`]);
    expect(readdirSync(join(ipamDir, 'dpdk-net')).filter((f) => f.startsWith('10.'))).toEqual(['10.78.0.2']);
  });
  it('GC accepts the legacy cni.dev/attachments key', () => {
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[0] }), containerId: 'keep' }).code).toBe(0);
    expect(call({ command: 'GC', conf: conf({ 'cni.dev/attachments': [{ containerID: 'keep', ifname: 'net1' }] }) }).code).toBe(0);
    expect(readdirSync(state('attachments'))).toEqual(['dpdk-net@keep@net1.json']);
  });
  it('STATUS is ready on a usable state dir, and 50 when it is not', () => {
    expect(call({ command: 'STATUS', conf: conf() })).toMatchObject({ code: 0, stdout: '' });
    rmSync(join(node.root, 'var'), { recursive: true, force: true });
    writeFileSync(join(node.root, 'var'), 'not a directory');
    const r = call({ command: 'STATUS', conf: conf() });
    expect(r.json.code).toBe(50);
    expect(r.json.msg).toMatch(/state directory .* is not usable/);
  });
});

describe('concurrency', () => {
  it('32 concurrent ADDs on 32 VFs of one PF, then 32 DELs: no error, no leftover state', async () => {
    const many = node.sriovPf('0000:5e:00.0', { netdev: 'ens2f0', numVfs: 32 });
    const go = (command: string) => Promise.all(many.map((vf, i) => cniAsync({ command, conf: conf({ deviceID: vf }), containerId: `pod${i}`, netns: LIVE, root: node.root })));
    const adds = await go('ADD');
    expect(adds.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    expect(new Set(adds.map((r) => r.json.interfaces[0].pciID)).size).toBe(32);
    const dels = await go('DEL');
    expect(dels.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    expect(readdirSync(state('attachments'))).toEqual([]);
    expect(readdirSync(state('devices'))).toEqual([]);
    const tmp = readdirSync(state('attachments'), { withFileTypes: true }).filter((d) => d.name.startsWith('.'));
    expect(tmp).toEqual([]);
  });
});

afterAll(() => undefined);
