import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, isRoot, REPO, tempDir, type CniCall } from '../helpers/cni.js';
import { NetFixture, virtioNic } from '../helpers/netns.js';

/**
 * The operator-rendered sriov-cni NADs on a PF-less kernel netdev (a virtio-net-pci NIC, as on a
 * VM): a veth end in the host stands in for its netdev. `"vlan":0`, `"vlanQoS":0`, `"ipam":{}`
 * and rates 0 are no-ops; the netdev is moved in as on any other node.
 */
describe.runIf(isRoot)('sriov-cni NADs on a PF-less netdev (root)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let pod: string;
  let vfname: string;
  const PCI = '0000:00:10.0';
  const call = (c: Omit<CniCall, 'root'>) => cni({ netns: pod, ...c, root: node.root });

  beforeEach(() => {
    dir = tempDir();
    node = new SimNode(dir.path);
    net = new NetFixture();
    pod = net.netns();
    vfname = virtioNic(node, net, PCI, `dr${net.id}`, { mac: '02:00:00:00:10:02', mtu: 1500 });
  });
  afterEach(() => {
    net.cleanup();
    dir.cleanup();
  });

  it.each(['operator-minimal.json', 'operator-0.3.1-minimal.json', 'operator-zero-options.json'])('%s: the netdev is moved into the pod and back', (file) => {
    const conf = { ...JSON.parse(readFileSync(join(REPO, 'test/fixtures/sriov-cni', file), 'utf8')), type: 'dpdk-cni', deviceID: PCI };
    const add = call({ command: 'ADD', conf });
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.interfaces[0]).toMatchObject({ name: 'net1', mac: '02:00:00:00:10:02', sandbox: pod });
    expect(net.link('net1', pod)?.address).toBe('02:00:00:00:10:02');
    expect(call({ command: 'DEL', conf }).code).toBe(0);
    expect(net.link(vfname)?.ifname).toBe(vfname);
  });
});
