import { describe, expect, it } from 'vitest';
import { attachmentProblem, lastKnownProblem, markerProblem, newerVersion } from '../../src/state/validate.js';
import { keyOfFileName } from '../../src/state/store.js';

const KEY = { net: 'n', containerID: 'c', ifname: 'net1' };
const base = () => ({
  version: 1, phase: 'added', key: { ...KEY }, netns: '/proc/1/ns/net', mode: 'netdev', pci: '0000:00:06.0', driver: 'iavf',
  pf: { pci: '0000:00:05.0', netdev: 'ens5', vfIndex: 3 },
  vf: { original: { mac: '00:00:00:00:00:00', vlan: 0, qos: 0, proto: '802.1q', minTx: 0, maxTx: 0, spoofchk: true }, applied: { vlan: 100 } },
  netdev: {
    hostName: 'ens6', origMac: '02:00:00:00:00:01', origMtu: 1500, wasUp: true, tmpName: 'dcni1', podName: 'net1', mac: '02:00:00:00:00:01', mtu: 9000,
    hostUse: { addresses: ['192.0.2.1/24', '2001:db8::1/64'], routes: [{ dst: 'default', gateway: '192.0.2.254', family: 4, metric: 100, protocol: 'static' }], master: 'br0' },
  },
  netconf: '{"ipam":{"type":"host-local"}}', ipam: true,
  deviceInfo: { path: '/run/k8s.cni.cncf.io/devinfo/cni/ns-nad-c_net1', previous: '{}' },
  result: { cniVersion: '1.1.0', interfaces: [{ name: 'net1' }], ips: [], routes: [], dns: {} },
  createdAt: '2026-01-01T00:00:00.000Z',
});

describe('attachmentProblem', () => {
  it('accepts a state as ADD writes it', () => {
    expect(attachmentProblem(base(), KEY)).toBeUndefined();
  });

  const set = (path: string, v: unknown) => {
    const s = base() as Record<string, any>;
    const parts = path.split('.');
    let o = s;
    for (const p of parts.slice(0, -1)) o = o[p];
    if (v === undefined) delete o[parts.at(-1)!];
    else o[parts.at(-1)!] = v;
    return s;
  };
  it.each([
    ['version', 'x'], ['phase', 'done'], ['key.net', '../x'], ['key.containerID', 'a/b'], ['key.ifname', 'a b'], ['netns', 'relative'],
    ['mode', 'kernel'], ['pci', '0000:00:06'], ['pci', '0000:00:06.0/..'], ['pci', '0000:00:0A.0'], ['driver', '..'], ['driver', 'a/b'],
    ['pf.pci', 5], ['pf.netdev', 'a:b'], ['pf.vfIndex', 1.5], ['vf.original.vlan', 4096], ['vf.original.mac', 'x'], ['vf.applied.qos', 8],
    ['vf.applied.proto', '802.1x'], ['vf.applied.linkState', 'up'], ['netdev.tmpName', 'x'.repeat(16)], ['netdev.mtu', -1], ['netdev.origMtu', 1.5], ['netdev.origMac', 'zz'],
    ['netdev.wasUp', 'yes'], ['netdev.hostUse.addresses', ['1.2.3.4/24; reboot']], ['netdev.hostUse.master', '../br'],
    ['netconf', '{'], ['netconf', '[]'], ['ipam', 'true'], ['deviceInfo.path', '/etc/passwd'], ['deviceInfo.path', '/run/k8s.cni.cncf.io/devinfo/cni/ns-nad-other_net1'],
    ['deviceInfo.previous', 5], ['result', 'x'], ['createdAt', undefined],
  ])('%s = %j is named', (field, v) => {
    const p = attachmentProblem(set(field, v), KEY);
    expect(p?.field).toBe(field === 'netdev.hostUse.addresses' ? 'netdev.hostUse.addresses[0]' : field);
  });

  it('an InfiniBand hardware address and a netns with ".." (both accepted by ADD) pass', () => {
    const s = base();
    s.netdev.origMac = Array(20).fill('0a').join(':');
    s.netns = '/proc/1/../1/ns/net';
    expect(attachmentProblem(s, KEY)).toBeUndefined();
  });

  it('a netdev in a mode without one is refused', () => {
    expect(attachmentProblem({ ...base(), mode: 'dpdk' }, KEY)?.field).toBe('netdev');
  });

  it('the key must be the file name\'s', () => {
    expect(attachmentProblem(base(), { ...KEY, containerID: 'other' })?.field).toBe('key');
  });
});

describe('newerVersion', () => {
  it.each([[{ version: 2 }, 2], [{ version: 1 }, undefined], [{ version: '2' }, undefined], [{}, undefined], [null, undefined]])('%j → %j', (v, want) => {
    expect(newerVersion(v)).toBe(want);
  });
});

describe('markerProblem', () => {
  it('accepts a marker as ADD writes it', () => {
    expect(markerProblem({ key: KEY, netns: '/run/netns/x' })).toBeUndefined();
  });
  it.each([
    [{ key: { ...KEY, net: '../known/x' }, netns: '/x' }, 'key.net'],
    [{ key: KEY, netns: 'x' }, 'netns'],
    [{ key: 'x', netns: '/x' }, 'key'],
  ])('%j → %s', (m, field) => {
    expect(markerProblem(m)?.field).toBe(field);
  });
});

describe('lastKnownProblem', () => {
  const PCI = '0000:00:06.0';
  it('accepts what bind records', () => {
    expect(lastKnownProblem({ pci: PCI, mac: '0a:1b:2c:3d:4e:5f', mtu: 9001, netdev: 'ens6', driver: 'ena' }, PCI)).toBeUndefined();
  });
  it.each([
    [{ pci: PCI, mac: '01:00:5e:00:00:01' }, 'mac'],
    [{ pci: PCI, mac: '00:00:00:00:00:00' }, 'mac'],
    [{ pci: PCI, mac: '0a:1b:2c:3d:4e' }, 'mac'],
    [{ pci: PCI, mtu: 67 }, 'mtu'],
    [{ pci: PCI, mtu: 65536 }, 'mtu'],
    [{ pci: PCI, netdev: 'a/b' }, 'netdev'],
    [{ pci: '0000:00:07.0' }, 'pci'],
  ])('%j → %s', (k, field) => {
    expect(lastKnownProblem(k, PCI)?.field).toBe(field);
  });
});

describe('keyOfFileName', () => {
  it.each([
    ['n@c@net1.json', KEY],
    ['n@c@a%2Eb.json', { net: 'n', containerID: 'c', ifname: 'a.b' }],
    ['n@c@net1.json.corrupt', undefined],
    ['.n@c@net1.json.tmp', undefined],
    ['n@c.json', undefined],
    ['n@c@a.b.json', undefined], // not how dpdk-cni encodes it
    ['n@c@%E0.json', undefined],
  ])('%s → %j', (name, want) => {
    expect(keyOfFileName(name)).toEqual(want);
  });
});
