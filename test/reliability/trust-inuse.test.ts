/**
 * Devices the host or another pod is using (issue #13 item 3, #14 item 3). A NetworkAttachmentDefinition
 * names any PCI address it likes, so CNI ADD itself must refuse a netdev the host depends on (an
 * address, a route, a bridge or bond, a macvlan on it with addresses) and an SR-IOV PF whose VFs
 * are in other pods. The simulated node's netdevs are real veth links in the host netns, so the
 * addresses, routes and bridges here are real.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode, vfAddress } from '../../src/sim/simnode.js';
import { cni, isRoot, sh, tempDir, type CniCall } from '../helpers/cni.js';
import { NetFixture, virtioNic } from '../helpers/netns.js';

describe.runIf(isRoot)('ADD refuses a device the host or another pod uses', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let pod: string;
  let nic: string;
  const extra: string[] = [];
  const PCI = '0000:00:10.0';
  const call = (c: Omit<CniCall, 'root'>) => cni({ netns: pod, ...c, root: node.root });
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  const stateFiles = () => [...ls(join(node.root, 'var/lib/cni/dpdk-cni/attachments')), ...ls(join(node.root, 'var/lib/cni/dpdk-cni/devices'))];
  const conf = (more: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'inuse', type: 'dpdk-cni', deviceID: PCI, ...more });
  const ip = (...a: string[]) => {
    const r = sh('ip', a);
    if (r.code !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
  };
  const addrs = (name: string) => (net.link(name)?.addr_info ?? []).filter((a: any) => a.scope !== 'link').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
  const routes = (name: string) => sh('ip', ['-4', 'route', 'show', 'dev', name]).stdout;

  beforeEach(() => {
    dir = tempDir('dpdk-cni-inuse-');
    node = new SimNode(dir.path);
    net = new NetFixture();
    pod = net.netns();
    nic = virtioNic(node, net, PCI, `du${net.id}`, { mac: '02:00:00:00:11:01', up: true });
  });
  afterEach(() => {
    for (const l of extra.splice(0)) sh('ip', ['link', 'del', l]);
    net.cleanup();
    dir.cleanup();
  });

  it('a netdev with a host address and a route through it is refused with 111 naming them; nothing changes', () => {
    ip('addr', 'add', '192.0.2.10/24', 'dev', nic);
    ip('route', 'add', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', nic);
    const before = net.link(nic);
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(111);
    expect(r.json.msg).toContain(`PCI device ${PCI} is in use by the host`);
    expect(r.json.msg).toContain('addresses 192.0.2.10/24');
    expect(r.json.msg).toContain('198.51.100.0/24 via 192.0.2.1');
    expect(r.json.msg).toContain('"allowInUse": true');
    const after = net.link(nic);
    for (const k of ['ifname', 'address', 'mtu', 'flags']) expect(after[k]).toEqual(before[k]);
    expect(addrs(nic)).toEqual(['192.0.2.10/24']);
    expect(routes(nic)).toContain('198.51.100.0/24 via 192.0.2.1');
    expect(net.link('net1', pod)).toBeUndefined();
    expect(stateFiles()).toEqual([]);
    // the same device without them is attachable (the kernel's own fe80:: address does not count)
    ip('addr', 'flush', 'dev', nic);
    const ok = call({ command: 'ADD', conf: conf() });
    expect(ok.code, ok.stdout).toBe(0);
    expect(call({ command: 'DEL', conf: conf() }).code).toBe(0);
  });

  it('an address on a netdev that is down still counts (DEL would have lost it)', () => {
    ip('addr', 'add', '192.0.2.11/24', 'dev', nic);
    ip('link', 'set', nic, 'down');
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.json?.code, r.stdout).toBe(111);
    expect(r.json.msg).toContain(`${nic} has addresses 192.0.2.11/24`);
    expect(addrs(nic)).toEqual(['192.0.2.11/24']);
  });

  it('a bridge port is refused (111) and stays in its bridge', () => {
    const br = `dbr${net.id}`;
    ip('link', 'add', br, 'type', 'bridge');
    extra.push(br);
    ip('link', 'set', nic, 'master', br);
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.json?.code, r.stdout).toBe(111);
    expect(r.json.msg).toContain(`${nic} is a port of bridge ${br}`);
    expect(net.link(nic).master).toBe(br);
    expect(stateFiles()).toEqual([]);
  });

  it('the lower device of a macvlan that carries a host address is refused (111)', () => {
    const mv = `dmv${net.id}`;
    ip('link', 'add', 'link', nic, 'name', mv, 'type', 'macvlan');
    extra.push(mv);
    ip('addr', 'add', '192.0.2.20/24', 'dev', mv);
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.json?.code, r.stdout).toBe(111);
    expect(r.json.msg).toContain(`macvlan ${mv} on ${nic} has addresses 192.0.2.20/24`);
    expect(net.link(mv)).toBeDefined();
  });

  it('"allowInUse": true takes it; DEL puts back its addresses, routes and bridge', () => {
    const br = `dbr${net.id}`;
    ip('link', 'add', br, 'type', 'bridge');
    extra.push(br);
    ip('link', 'set', br, 'up');
    ip('link', 'set', nic, 'master', br);
    ip('addr', 'add', '192.0.2.10/24', 'dev', nic);
    ip('addr', 'add', '2001:db8::10/64', 'dev', nic, 'nodad');
    ip('route', 'add', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', nic, 'metric', '50');
    const add = call({ command: 'ADD', conf: conf({ allowInUse: true }) });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(net.link(nic)).toBeUndefined();
    expect(net.link('net1', pod)).toBeDefined();

    const del = call({ command: 'DEL', conf: conf({ allowInUse: true }) });
    expect([del.code, del.stdout]).toEqual([0, '']);
    const back = net.link(nic);
    expect(back.flags).toContain('UP');
    expect(back.master).toBe(br);
    expect(addrs(nic)).toEqual(['192.0.2.10/24', '2001:db8::10/64']);
    expect(routes(nic)).toMatch(/198\.51\.100\.0\/24 via 192\.0\.2\.1 metric 50/);
    expect(stateFiles()).toEqual([]);
    expect(add.stderr).toContain('allowInUse'); // the log says a host netdev was taken
  });

  it('"allowInUse": a failed ADD rolls back with the addresses and routes in place', () => {
    ip('addr', 'add', '192.0.2.10/24', 'dev', nic);
    ip('route', 'add', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', nic);
    const r = call({ command: 'ADD', conf: conf({ allowInUse: true, ipam: { type: 'no-such-ipam' } }) });
    expect(r.json?.code, r.stdout).toBe(106);
    expect(addrs(nic)).toEqual(['192.0.2.10/24']);
    expect(routes(nic)).toContain('198.51.100.0/24 via 192.0.2.1');
    expect(stateFiles()).toEqual([]);
  });
});

describe.runIf(isRoot)('an SR-IOV PF whose VFs are in pods is not attachable (102)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let podA: string;
  let podB: string;
  let pfNet: string;
  const PF = '0000:3b:00.0';
  const VF0 = vfAddress(PF, 0);
  const VF1 = vfAddress(PF, 1);
  const conf = (deviceID: string, name = 'sriov') => ({ cniVersion: '1.1.0', name, type: 'dpdk-cni', deviceID });
  const call = (c: Omit<CniCall, 'root'>) => cni({ ...c, root: node.root });

  beforeEach(() => {
    dir = tempDir('dpdk-cni-inuse-pf-');
    node = new SimNode(dir.path);
    net = new NetFixture();
    podA = net.netns('a');
    podB = net.netns('b');
    pfNet = net.veth(`dp${net.id}`, { mac: '02:aa:00:00:00:00' });
    node.driver('vfio-pci');
    node.sriovPf(PF, { netdev: pfNet, numVfs: 2 });
  });
  afterEach(() => {
    net.cleanup();
    dir.cleanup();
  });

  it('ADD of the PF while its VF is in a live pod is refused (102) naming the VF and the pod; the PF stays in the host', () => {
    const a = call({ command: 'ADD', conf: conf(VF0), netns: podA, containerId: 'pod-a' });
    expect(a.code, a.stdout).toBe(0);
    const r = call({ command: 'ADD', conf: conf(PF, 'pfnet'), netns: podB, containerId: 'pod-b' });
    expect(r.json?.code, r.stdout).toBe(102);
    expect(r.json.msg).toContain(`SR-IOV PF ${PF} has VFs in pods: VF 0 (${VF0}) is attached to container pod-a`);
    expect(net.link(pfNet)).toBeDefined();
    expect(net.link('net1', podB)).toBeUndefined();
    // once that pod's DEL has run, the PF is attachable again
    expect(call({ command: 'DEL', conf: conf(VF0), netns: podA, containerId: 'pod-a' }).code).toBe(0);
    const ok = call({ command: 'ADD', conf: conf(PF, 'pfnet'), netns: podB, containerId: 'pod-b' });
    expect(ok.code, ok.stdout).toBe(0);
    // and while the PF is in a pod, a VF ADD is refused clearly (102), not a netlink error
    const vf = call({ command: 'ADD', conf: { ...conf(VF1), vlan: 10 }, netns: podA, containerId: 'pod-a2' });
    expect(vf.json?.code, vf.stdout).toBe(102);
    expect(vf.json.msg).toContain(`its PF ${PF} is attached to container pod-b`);
    expect(call({ command: 'DEL', conf: conf(PF, 'pfnet'), netns: podB, containerId: 'pod-b' }).code).toBe(0);
    expect(net.link(pfNet)).toBeDefined();
  });
});
