import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, isRoot, tempDir, type CniCall } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PF = '0000:65:00.0';

describe('vDPA', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let vfs: string[];
  const call = (c: Omit<CniCall, 'root'>) => cni({ netns: LIVE, ...c, root: node.root });
  const devinfo = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-vdpa-net-c0ffee_net1';
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.1.0', name: 'vdpa-net', type: 'dpdk-cni', deviceID: vfs[0], runtimeConfig: { CNIDeviceInfoFile: devinfo }, ...extra,
  });
  const st = () => JSON.parse(readFileSync(join(node.root, 'var/lib/cni/dpdk-cni/attachments/vdpa-net@c0ffee@net1.json'), 'utf8'));

  beforeEach(() => {
    dir = tempDir();
    node = new SimNode(dir.path);
    vfs = node.sriovPf(PF, { netdev: 'enp101s0f0np0', numVfs: 2, driver: 'mlx5_core', vfDriver: 'mlx5_core' });
  });
  afterEach(() => dir.cleanup());

  it('vhost-vdpa: nothing moved; result and device-info carry the /dev/vhost-vdpa-N path; CHECK; DEL', () => {
    node.vdpa(vfs[0]!, 'vdpa0', 'vhost_vdpa', { index: 3 });
    const add = call({ command: 'ADD', conf: conf() });
    expect(add.code).toBe(0);
    expect(add.json.interfaces).toEqual([{ name: 'net1', mtu: 1500, sandbox: LIVE, pciID: vfs[0] }]);
    const file = join(node.root, devinfo);
    expect(readFileSync(file, 'utf8')).toBe(
      `{"type":"vdpa","version":"1.1.0","vdpa":{"parent-device":"vdpa0","driver":"vhost","path":"/dev/vhost-vdpa-3","pci-address":"${vfs[0]}","pf-pci-address":"${PF}"}}`,
    );
    expect(st()).toMatchObject({ mode: 'vhost-vdpa', vdpa: { name: 'vdpa0', driver: 'vhost', path: '/dev/vhost-vdpa-3' } });
    expect(call({ command: 'CHECK', conf: conf() }).code).toBe(0);
    expect(call({ command: 'DEL', conf: conf() }).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('CHECK fails when the vDPA device moved to another driver or vanished', () => {
    node.vdpa(vfs[0]!, 'vdpa0', 'vhost_vdpa');
    expect(call({ command: 'ADD', conf: conf() }).code).toBe(0);
    node.vdpa(vfs[0]!, 'vdpa0', 'virtio_vdpa');
    const r = call({ command: 'CHECK', conf: conf() });
    expect(r.json.code).toBe(108);
    expect(r.json.msg).toMatch(/vdpa0/);
    rmSync(join(node.realDir(vfs[0]!), 'vdpa0'), { recursive: true });
    expect(call({ command: 'CHECK', conf: conf() }).json.code).toBe(108);
    expect(call({ command: 'DEL', conf: conf() }).code).toBe(0);
  });

  it('several vDPA devices on one function: a clear error listing them, and vdpaDevice picks one', () => {
    node.vdpa(vfs[0]!, 'vdpa0', 'vhost_vdpa', { index: 0 });
    node.vdpa(vfs[0]!, 'vdpa1', 'vhost_vdpa', { index: 1 });
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.json.code).toBe(7);
    expect(r.json.msg).toContain('has several vDPA devices (vdpa0, vdpa1): set "vdpaDevice"');
    expect(call({ command: 'ADD', conf: conf({ vdpaDevice: 'vdpa1' }) }).code).toBe(0);
    expect(JSON.parse(readFileSync(join(node.root, devinfo), 'utf8')).vdpa.path).toBe('/dev/vhost-vdpa-1');
    expect(call({ command: 'ADD', conf: conf({ vdpaDevice: 'vdpa7', runtimeConfig: { CNIDeviceInfoFile: `${devinfo.slice(0, -'c0ffee_net1'.length)}x_net1` } }), containerId: 'x' }).json.code).toBe(100);
  });

  it('a vDPA device bound to no driver is refused with what to do', () => {
    node.vdpa(vfs[0]!, 'vdpa0', 'vhost_vdpa');
    rmSync(join(node.realDir(vfs[0]!), 'vdpa0', 'driver'));
    const r = call({ command: 'ADD', conf: conf() });
    expect(r.json.code).toBe(101);
    expect(r.json.msg).toMatch(/vdpa0 .* not bound to a driver: bind it to vhost_vdpa or virtio_vdpa/);
  });

  describe.runIf(isRoot)('virtio-vdpa (root)', () => {
    let net: NetFixture;
    beforeEach(() => {
      net = new NetFixture();
    });
    afterEach(() => net.cleanup());

    it('the virtio netdev (under <pci>/virtioN/net, not the VF netdev) goes into the pod and comes back', () => {
      const pod = net.netns();
      const vnet = net.veth(`vv${net.id}`, { mac: '02:00:00:00:77:01', mtu: 1500 });
      const vfnet = net.veth(`vf${net.id}`, { mac: '02:00:00:00:66:01' });
      node.netdev(vfs[0]!, vfnet, { mac: '02:00:00:00:66:01' }); // the VF's own mlx5 netdev: must not be taken
      node.vdpa(vfs[0]!, 'vdpa0', 'virtio_vdpa', { index: 2, netdev: vnet, mac: '02:00:00:00:77:01' });
      const c = conf({ mtu: 1400, ipam: { type: 'host-local', subnet: '10.66.0.0/24', dataDir: join(node.root, 'ipam') } });
      const add = call({ command: 'ADD', conf: c, netns: pod });
      expect(add.code).toBe(0);
      expect(add.json.interfaces[0]).toMatchObject({ name: 'net1', mac: '02:00:00:00:77:01', mtu: 1400, sandbox: pod });
      expect(net.link('net1', pod)).toMatchObject({ mtu: 1400 });
      expect(net.link(vfnet)).toBeDefined();
      expect(st()).toMatchObject({ mode: 'virtio-vdpa', vdpa: { name: 'vdpa0', driver: 'virtio' }, netdev: { hostName: vnet } });
      expect(JSON.parse(readFileSync(join(node.root, devinfo), 'utf8'))).toEqual({
        type: 'vdpa', version: '1.1.0', vdpa: { 'parent-device': 'vdpa0', driver: 'virtio', 'pci-address': vfs[0], 'pf-pci-address': PF },
      });
      expect(call({ command: 'CHECK', conf: { ...c, prevResult: add.json }, netns: pod }).code).toBe(0);
      expect(call({ command: 'DEL', conf: c, netns: pod }).code).toBe(0);
      expect(net.link(vnet)).toMatchObject({ ifname: vnet, address: '02:00:00:00:77:01', mtu: 1500 });
      expect(readdirSync(join(node.root, 'var/lib/cni/dpdk-cni/attachments'))).toEqual([]);
    });
  });
});
