import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { buildDriver, pluginDir, runDriver, writeConflist, type DriverCall } from '../callers/driver.js';

/**
 * dpdk-cni driven by a real runtime library: Debian's libcni (1.1.2) through test/callers/libcni,
 * which loads a conflist and runs ADD, CHECK, DEL (with the cached result as prevResult) and GC
 * the way containerd and CRI-O do. Plugins are found by `type` in CNI_PATH; the plugin inherits
 * the caller's environment, which is how DPDK_CNI_ROOT reaches it here.
 */
describe.runIf(isRoot)('libcni caller (root)', () => {
  let driver: string;
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let plugins: string;
  let ipamDir: string;

  const cache = () => join(dir.path, 'cache');
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  const leases = (netName: string) => ls(join(ipamDir, netName)).filter((f) => /^\d+\./.test(f));
  const cached = () => ls(join(cache(), 'results'));
  const nsName = (p: string) => p.split('/').pop() as string;

  let files = 0;
  function conflist(name: string, plugins: unknown[], cniVersion = '1.0.0'): string {
    return writeConflist(join(dir.path, `${name}-${files++}.conflist`), { cniVersion, name, plugins });
  }
  function drv(cmd: 'add' | 'check' | 'del' | 'gc', c: Omit<DriverCall, 'cache' | 'path' | 'env'>) {
    return runDriver(driver, cmd, { cache: cache(), path: plugins, env: { DPDK_CNI_ROOT: node.root }, ...c });
  }
  /** A PF-less PCI function whose kernel netdev is a real veth end in the host. */
  function kernelDevice(pci: string, mac: string, mtu = 1500): string {
    const name = net.veth(`dl${net.id}${net.links.length}`, { mac, mtu });
    node.pci(pci, { driver: 'iavf', device: '1889' });
    node.netdev(pci, name, { mac, mtu });
    return name;
  }
  const hostLink = (name: string) => net.link(name);
  const podLink = (pod: string, name: string) => net.link(name, pod);
  const addrs = (l: any) => (l?.addr_info ?? []).map((a: any) => `${a.local}/${a.prefixlen}`);

  beforeAll(() => {
    driver = buildDriver();
  });
  beforeEach(() => {
    dir = tempDir('dpdk-cni-libcni-');
    node = new SimNode(join(dir.path, 'node'));
    net = new NetFixture();
    plugins = pluginDir(join(dir.path, 'bin'));
    ipamDir = join(dir.path, 'ipam');
  });
  afterEach(() => {
    net.cleanup();
    dir.cleanup();
  });

  it('DPDK mode: ADD, CHECK, DEL through libcni; the device comes from runtimeConfig.deviceID; DEL repeated succeeds', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 4 });
    const pod = net.netns();
    const file = conflist('dpdk', [{ type: 'dpdk-cni', capabilities: { deviceID: true } }]);
    const at = { conflist: file, netns: pod, cid: 'c1', ifname: 'net1', cap: { deviceID: vfs[2] }, args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p1' };

    const add = drv('add', at);
    expect(add.code, add.stderr).toBe(0);
    // libcni 1.1.2 knows the 1.0.0 result only: mtu and pciID are dropped by its result type
    expect(add.json).toEqual({ cniVersion: '1.0.0', interfaces: [{ name: 'net1', sandbox: pod }], dns: {} });
    expect(cached()).toEqual(['dpdk-c1-net1']);
    const st = JSON.parse(readFileSync(state('attachments', 'dpdk@c1@net1.json'), 'utf8'));
    expect(st).toMatchObject({ phase: 'added', mode: 'dpdk', pci: vfs[2], driver: 'vfio-pci', pf: { netdev: 'ens1f0', vfIndex: 2 } });
    expect(ls(state('devices'))).toEqual([`${vfs[2]}.json`]);

    const chk = drv('check', at);
    expect(chk.code, chk.stderr).toBe(0);
    // what CHECK is for: the VF was rebound to its kernel driver behind the pod's back
    node.bind(vfs[2]!, 'iavf');
    const bad = drv('check', at);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${vfs[2]} is bound to iavf`);
    node.bind(vfs[2]!, 'vfio-pci');

    const del = drv('del', at);
    expect(del.code, del.stderr).toBe(0);
    expect(cached()).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
    // the runtime retries DEL (no cached result now, so no prevResult): still success
    expect(drv('del', at).code).toBe(0);
    // the VF is free for the next pod
    const again = drv('add', { ...at, cid: 'c2' });
    expect(again.code, again.stderr).toBe(0);
    expect(drv('del', { ...at, cid: 'c2' }).code).toBe(0);
  });

  it('netdevice mode with host-local: the pod gets the device with its address, MAC and MTU; CHECK catches a lost address; DEL restores the host device and frees the lease', () => {
    const pci = '0000:5e:00.0';
    const vf = kernelDevice(pci, '02:00:00:5e:00:01', 1500);
    const pod = net.netns();
    const file = conflist('kern', [{
      type: 'dpdk-cni', deviceID: pci, mtu: 1400, mac: '02:aa:bb:cc:dd:01',
      ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: '10.66.0.0/24', gateway: '10.66.0.1' }]], routes: [{ dst: '10.67.0.0/16' }] },
    }]);
    const at = { conflist: file, netns: pod, cid: 'k1', ifname: 'net1' };

    const add = drv('add', at);
    expect(add.code, add.stderr).toBe(0);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net1', mac: '02:aa:bb:cc:dd:01', sandbox: pod }],
      ips: [{ interface: 0, address: '10.66.0.2/24', gateway: '10.66.0.1' }],
      routes: [{ dst: '10.67.0.0/16' }],
      dns: {},
    });
    expect(hostLink(vf)).toBeUndefined();
    const l = podLink(pod, 'net1');
    expect(l).toMatchObject({ address: '02:aa:bb:cc:dd:01', mtu: 1400 });
    expect(l.flags).toContain('UP');
    expect(addrs(l)).toEqual(['10.66.0.2/24']);
    expect(sh('ip', ['-n', nsName(pod), 'route', 'show', '10.67.0.0/16']).stdout).toContain('dev net1');
    expect(leases('kern')).toEqual(['10.66.0.2']);

    expect(drv('check', at).code).toBe(0);
    sh('ip', ['-n', nsName(pod), 'addr', 'del', '10.66.0.2/24', 'dev', 'net1']);
    const bad = drv('check', at);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('interface net1 lacks address 10.66.0.2/24');

    const del = drv('del', at);
    expect(del.code, del.stderr).toBe(0);
    expect(podLink(pod, 'net1')).toBeUndefined();
    expect(hostLink(vf)).toMatchObject({ ifname: vf, address: '02:00:00:5e:00:01', mtu: 1500 });
    expect(leases('kern')).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
    expect(cached()).toEqual([]);
  });

  it('static IPAM: addresses and routes from the netconf and from CNI_ARGS IP= land in the pod', () => {
    const pci = '0000:5e:00.1';
    kernelDevice(pci, '02:00:00:5e:00:02');
    const pod = net.netns();
    const file = conflist('stat', [{
      type: 'dpdk-cni', deviceID: pci,
      ipam: { type: 'static', addresses: [{ address: '10.55.0.9/24', gateway: '10.55.0.1' }], routes: [{ dst: '10.56.0.0/16', gw: '10.55.0.1' }] },
    }]);
    const at = { conflist: file, netns: pod, cid: 's1', ifname: 'net1' };
    const add = drv('add', at);
    expect(add.code, add.stderr).toBe(0);
    expect(add.json.ips).toEqual([{ interface: 0, address: '10.55.0.9/24', gateway: '10.55.0.1' }]);
    expect(addrs(podLink(pod, 'net1'))).toEqual(['10.55.0.9/24']);
    expect(sh('ip', ['-n', nsName(pod), 'route', 'show', '10.56.0.0/16']).stdout).toContain('via 10.55.0.1 dev net1');
    expect(drv('check', at).code).toBe(0);
    expect(drv('del', at).code).toBe(0);

    // static also takes the address from CNI_ARGS (IP=...), as the runtime passes it through
    const pod2 = net.netns();
    const file2 = conflist('stat2', [{ type: 'dpdk-cni', deviceID: pci, ipam: { type: 'static' } }]);
    const at2 = { conflist: file2, netns: pod2, cid: 's2', ifname: 'net1', args: 'IgnoreUnknown=1;IP=10.55.1.7/24' };
    const add2 = drv('add', at2);
    expect(add2.code, add2.stderr).toBe(0);
    expect(addrs(podLink(pod2, 'net1'))).toEqual(['10.55.1.7/24']);
    expect(drv('del', at2).code).toBe(0);
  });

  it("chained: dpdk-cni then Debian's tuning; tuning's MAC and sysctl are in the pod, CHECK and DEL run down the chain", () => {
    const pci = '0000:5e:00.2';
    const vf = kernelDevice(pci, '02:00:00:5e:00:03', 1500);
    const pod = net.netns();
    const file = conflist('chain', [
      { type: 'dpdk-cni', deviceID: pci, ipam: { type: 'host-local', dataDir: ipamDir, subnet: '10.44.0.0/24' } },
      { type: 'tuning', mac: 'c2:00:00:00:44:01', sysctl: { 'net.ipv4.conf.net1.arp_ignore': '2' } },
    ]);
    const at = { conflist: file, netns: pod, cid: 't1', ifname: 'net1' };
    const add = drv('add', at);
    expect(add.code, add.stderr).toBe(0);
    // tuning got dpdk-cni's result as prevResult and returned it with its MAC
    expect(add.json.interfaces).toEqual([{ name: 'net1', mac: 'c2:00:00:00:44:01', sandbox: pod }]);
    expect(add.json.ips).toEqual([{ interface: 0, address: '10.44.0.2/24', gateway: '10.44.0.1' }]);
    expect(podLink(pod, 'net1')).toMatchObject({ address: 'c2:00:00:00:44:01' });
    expect(sh('ip', ['netns', 'exec', nsName(pod), 'cat', '/proc/sys/net/ipv4/conf/net1/arp_ignore']).stdout.trim()).toBe('2');

    const chk = drv('check', at);
    expect(chk.code, chk.stderr).toBe(0);

    const del = drv('del', at);
    expect(del.code, del.stderr).toBe(0);
    expect(hostLink(vf)).toMatchObject({ ifname: vf, address: '02:00:00:5e:00:03', mtu: 1500 });
    expect(leases('chain')).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('GC through GCNetworkList after a pod vanished without DEL: its device is back in the host as it was, its lease and state are gone; valid attachments are kept', () => {
    const ipam = { type: 'host-local', dataDir: ipamDir, subnet: '10.33.0.0/24' };
    const [pa, pb] = ['0000:5e:00.4', '0000:5e:00.5'];
    const va = kernelDevice(pa, '02:00:00:5e:00:04', 1500);
    const vb = kernelDevice(pb, '02:00:00:5e:00:05', 1500);
    const podA = net.netns();
    const podB = net.netns();
    const fa = conflist('gcnet', [{ type: 'dpdk-cni', deviceID: pa, mtu: 1300, mac: '02:aa:00:00:00:04', ipam }]);
    // two attachments of network gcnet (the netconf per pod differs only in the device, as a
    // device plugin's deviceID would make it)
    const fb = conflist('gcnet', [{ type: 'dpdk-cni', deviceID: pb, ipam }]);
    expect(drv('add', { conflist: fa, netns: podA, cid: 'gone', ifname: 'net1' }).code).toBe(0);
    expect(drv('add', { conflist: fb, netns: podB, cid: 'alive', ifname: 'net1' }).code).toBe(0);
    expect(leases('gcnet')).toEqual(['10.33.0.2', '10.33.0.3']);
    expect(ls(state('attachments'))).toEqual(['gcnet@alive@net1.json', 'gcnet@gone@net1.json']);

    // Pod A's sandbox vanished: the kernel hands a physical netdev back to the host (under the
    // name it had in the pod) when its netns dies, then the netns is gone.
    sh('ip', ['-n', nsName(podA), 'link', 'set', 'net1', 'netns', '1']);
    sh('ip', ['netns', 'del', nsName(podA)]);
    expect(hostLink('net1')).toMatchObject({ address: '02:aa:00:00:00:04', mtu: 1300 });

    const gc = drv('gc', { conflist: fa, valid: [['alive', 'net1']] });
    expect(gc.code, gc.stderr).toBe(0);
    expect(hostLink('net1')).toBeUndefined();
    expect(hostLink(va)).toMatchObject({ ifname: va, address: '02:00:00:5e:00:04', mtu: 1500 });
    expect(ls(state('attachments'))).toEqual(['gcnet@alive@net1.json']);
    expect(ls(state('devices'))).toEqual([`${pb}.json`]);
    expect(leases('gcnet')).toEqual(['10.33.0.3']);
    expect(cached()).toEqual(['gcnet-alive-net1']);
    // the valid attachment is untouched
    expect(podLink(podB, 'net1')).toBeDefined();
    expect(hostLink(vb)).toBeUndefined();
    expect(drv('del', { conflist: fb, netns: podB, cid: 'alive', ifname: 'net1' }).code).toBe(0);
    expect(hostLink(vb)).toMatchObject({ ifname: vb });
  });

  it("GC verb (conflist at 1.1.0): attachments the runtime's cache no longer knows are released by dpdk-cni's own GC, valid ones kept", () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 4 });
    const pod = net.netns();
    const plug = (pci: string) => [{ type: 'dpdk-cni', deviceID: pci }];
    for (const [cid, pci] of [['old', vfs[0]!], ['new', vfs[1]!]] as const) {
      const r = drv('add', { conflist: conflist('gcv', plug(pci)), netns: pod, cid, ifname: 'net1' });
      expect(r.code, r.stderr).toBe(0);
    }
    expect(ls(state('attachments'))).toEqual(['gcv@new@net1.json', 'gcv@old@net1.json']);
    // The node rebooted: libcni's cache is gone; the network was upgraded to CNI 1.1.0.
    sh('rm', ['-rf', cache()]);
    const gc = drv('gc', { conflist: conflist('gcv', plug(vfs[0]!), '1.1.0'), valid: [['new', 'net1']] });
    expect(gc.code, gc.stderr).toBe(0);
    expect(ls(state('attachments'))).toEqual(['gcv@new@net1.json']);
    expect(ls(state('devices'))).toEqual([`${vfs[1]}.json`]);
  });
});
