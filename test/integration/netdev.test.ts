import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, isRoot, sh, tempDir, TEST_BIN, type CniCall } from '../helpers/cni.js';
import { NetFixture, virtioNic } from '../helpers/netns.js';
import { tmpNameFor } from '../../src/net/netdev.js';

/**
 * Netdevice mode with real network namespaces: a veth end in the host stands in for the VF's (or
 * virtio NIC's) netdev; the simulated sysfs tree says which PCI function owns it.
 */
describe.runIf(isRoot)('netdevice mode (root)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let pod: string;
  let vfname: string;
  const PCI = '0000:00:10.0';
  const call = (c: Omit<CniCall, 'root'>) => cni({ netns: pod, ...c, root: node.root });
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  let ipamDir: string;
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.1.0', name: 'kern', type: 'dpdk-cni', deviceID: PCI,
    ipam: { type: 'host-local', subnet: '10.88.0.0/24', routes: [{ dst: '10.99.0.0/16', gw: '10.88.0.1' }], dataDir: ipamDir },
    ...extra,
  });
  const hostLink = () => net.link(vfname);
  const leases = () => ls(join(ipamDir, 'kern')).filter((f) => f.startsWith('10.'));

  beforeEach(() => {
    dir = tempDir();
    ipamDir = join(dir.path, 'ipam');
    node = new SimNode(dir.path);
    net = new NetFixture();
    pod = net.netns();
    vfname = virtioNic(node, net, PCI, `dv${net.id}`, { mac: '02:00:00:00:10:01', mtu: 1500, up: true });
  });
  afterEach(() => {
    net.cleanup();
    dir.cleanup();
  });

  it('ADD moves the netdev into the pod with name, MAC, MTU, up, addresses and routes; CHECK passes; DEL restores all', () => {
    const add = call({ command: 'ADD', conf: conf({ mtu: 1400, mac: '02:11:22:33:44:55' }), args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1' });
    expect(add.code).toBe(0);
    expect(add.json).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1', mac: '02:11:22:33:44:55', mtu: 1400, sandbox: pod, pciID: PCI }],
      ips: [{ interface: 0, address: '10.88.0.2/24', gateway: '10.88.0.1' }],
      routes: [{ dst: '10.99.0.0/16', gw: '10.88.0.1' }],
    });
    expect(hostLink()).toBeUndefined();
    const inPod = net.link('net1', pod);
    expect(inPod).toMatchObject({ address: '02:11:22:33:44:55', mtu: 1400 });
    expect(inPod.flags).toContain('UP');
    expect(inPod.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain('10.88.0.2/24');
    expect(sh('ip', ['-n', pod.split('/').pop()!, 'route', 'show', '10.99.0.0/16']).stdout).toContain('via 10.88.0.1 dev net1');
    expect(add.stderr).toMatch(/"podNamespace":"ns1","podName":"p1"/);

    expect(call({ command: 'CHECK', conf: conf({ mtu: 1400, mac: '02:11:22:33:44:55', prevResult: add.json }) }).code).toBe(0);

    const del = call({ command: 'DEL', conf: conf({ prevResult: add.json }) });
    expect([del.code, del.stdout]).toEqual([0, '']);
    const back = hostLink();
    expect(back).toMatchObject({ ifname: vfname, address: '02:00:00:00:10:01', mtu: 1500 });
    expect(back.flags).toContain('UP');
    expect(net.link('net1', pod)).toBeUndefined();
    expect(leases()).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
    expect(call({ command: 'DEL', conf: conf() }).code).toBe(0);
  });

  it('CHECK reports every difference in one error', () => {
    const add = call({ command: 'ADD', conf: conf() });
    expect(add.code).toBe(0);
    const ns = pod.split('/').pop()!;
    sh('ip', ['-n', ns, 'link', 'set', 'net1', 'mtu', '1280']);
    sh('ip', ['-n', ns, 'addr', 'flush', 'dev', 'net1']);
    const r = call({ command: 'CHECK', conf: conf({ prevResult: add.json }) });
    expect(r.json.code).toBe(108);
    expect(r.json.msg).toContain('interface net1 has MTU 1280, expected 1500');
    expect(r.json.msg).toContain('interface net1 lacks address 10.88.0.2/24');
  });

  it('an existing CNI_IFNAME in the pod is refused (105) and the host is untouched', () => {
    sh('ip', ['-n', pod.split('/').pop()!, 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'x1']);
    const before = hostLink();
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.json.code).toBe(105);
    expect(r.json.msg).toMatch(/interface net1 already exists in the pod/);
    expect(hostLink()).toEqual(before);
    expect(leases()).toEqual([]);
  });

  it('CNI_NETNS that is not a network namespace is refused (105)', () => {
    const r = call({ command: 'ADD', conf: conf(), netns: '/tmp' });
    expect(r.json.code).toBe(105);
  });

  it.each([
    ['a route the kernel refuses (after IPAM and the move)', { ipam: { type: 'host-local', subnet: '10.88.0.0/24', routes: [{ dst: '10.99.0.0/16', gw: '192.0.2.1' }] } }, 104],
    ['an IPAM plugin that is not installed', { ipam: { type: 'no-such-ipam' } }, 106],
    ['an IPAM error (bad subnet)', { ipam: { type: 'host-local', subnet: 'not-a-subnet' } }, 106],
  ])('rollback after %s leaves the host exactly as before', (_what, extra: any, code) => {
    if (extra.ipam) extra.ipam.dataDir = ipamDir;
    const before = hostLink();
    const r = call({ command: 'ADD', conf: conf(extra) });
    expect(r.json?.code).toBe(code);
    const after = hostLink();
    expect(after).toBeDefined();
    for (const k of ['ifname', 'address', 'mtu', 'flags', 'operstate']) expect(after[k]).toEqual(before[k]);
    expect(net.link('net1', pod)).toBeUndefined();
    expect(leases()).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });

  it.each(['add:state-saved', 'add:ipam-done', 'add:netdev-in-pod', 'add:netdev-moved', 'add:devinfo-written'])(
    'a failure injected at %s is rolled back completely (test build)',
    (at) => {
      const devinfo = '/var/run/k8s.cni.cncf.io/devinfo/cni/kern-c0ffee_net1';
      const before = hostLink();
      const r = call({ command: 'ADD', conf: conf({ mtu: 1400, mac: '02:00:00:00:99:99', runtimeConfig: { CNIDeviceInfoFile: devinfo } }), bin: TEST_BIN, env: { DPDK_CNI_TEST_FAIL_AT: at } });
      expect(r.json?.msg, r.stdout).toBe(`injected failure at ${at}`);
      const after = hostLink();
      for (const k of ['ifname', 'address', 'mtu', 'flags', 'operstate']) expect(after?.[k]).toEqual(before[k]);
      expect(net.link('net1', pod)).toBeUndefined();
      expect(sh('ip', ['-n', pod.split('/').pop()!, '-o', 'link']).stdout.trim().split('\n')).toHaveLength(1);
      expect(leases()).toEqual([]);
      expect(ls(state('attachments'))).toEqual([]);
      expect(ls(state('devices'))).toEqual([]);
      expect(existsSync(join(node.root, devinfo))).toBe(false);
    },
  );

  it('DEL succeeds when the netns was deleted first (the veth died with it) and forgets the attachment', () => {
    expect(call({ command: 'ADD', conf: conf() }).code).toBe(0);
    sh('ip', ['netns', 'del', pod.split('/').pop()!]);
    const r = call({ command: 'DEL', conf: conf() });
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(ls(state('attachments'))).toEqual([]);
    expect(leases()).toEqual([]);
  });

  it('DEL with an empty CNI_NETNS still moves the device back (the saved netns is used)', () => {
    expect(call({ command: 'ADD', conf: conf() }).code).toBe(0);
    expect(call({ command: 'DEL', conf: conf(), netns: '' }).code).toBe(0);
    expect(hostLink()).toMatchObject({ ifname: vfname, mtu: 1500 });
  });

  it('a foreign link holding the device\'s temporary name (e.g. left by a crash) does not block ADD or DEL', () => {
    const squatter = tmpNameFor(PCI);
    sh('ip', ['link', 'add', squatter, 'type', 'veth', 'peer', 'name', `q${net.id}`]);
    net.links.push(squatter);
    const add = call({ command: 'ADD', conf: conf() });
    expect(add.code, add.stdout).toBe(0);
    expect(net.link('net1', pod)).toBeDefined();
    expect(call({ command: 'DEL', conf: conf() }).code).toBe(0);
    expect(hostLink()).toMatchObject({ ifname: vfname, address: '02:00:00:00:10:01', mtu: 1500 });
    expect(net.link(squatter)).toBeDefined();
  });

  it('MAC priority: runtimeConfig.mac > CNI_ARGS MAC > netconf mac', () => {
    const a = call({ command: 'ADD', conf: conf({ mac: '02:00:00:00:00:01', runtimeConfig: { mac: '02:00:00:00:00:03' } }), args: 'IgnoreUnknown=1;MAC=02:00:00:00:00:02' });
    expect(a.json.interfaces?.[0]?.mac, a.stdout).toBe('02:00:00:00:00:03');
    const d = call({ command: 'DEL', conf: conf() });
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const b = call({ command: 'ADD', conf: conf({ mac: '02:00:00:00:00:01' }), args: 'IgnoreUnknown=1;MAC=02:00:00:00:00:02' });
    expect(b.json.interfaces[0].mac).toBe('02:00:00:00:00:02');
    expect(net.link('net1', pod).address).toBe('02:00:00:00:00:02');
  });

  it('a kernel VF under a PF (no VF settings asked) is moved without touching the PF', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 2, vfDriver: 'iavf' });
    const other = net.veth(`dw${net.id}`, { mac: '02:00:00:00:20:01' });
    node.netdev(vfs[1]!, other, { mac: '02:00:00:00:20:01' });
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[1], ipam: undefined }), ifname: 'vf1' });
    expect(r.json.interfaces[0]).toMatchObject({ name: 'vf1', mac: '02:00:00:00:20:01', pciID: vfs[1] });
    expect(call({ command: 'DEL', conf: conf({ deviceID: vfs[1], ipam: undefined }), ifname: 'vf1' }).code).toBe(0);
    expect(net.link(other)).toMatchObject({ ifname: other });
  });
});
