import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, REPO, TEST_BIN, tempDir, type CniCall } from '../helpers/cni.js';
import { fakeIpPf } from '../helpers/fake-pf.js';

/**
 * Drop-in for sriov-cni: every configuration in test/fixtures/sriov-cni (as the SR-IOV Network
 * Operator renders them and as public docs show them) runs with only `type` changed, plus what
 * Multus injects (`deviceID`). See test/fixtures/sriov-cni/README.md for where each comes from.
 */
const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const FIXTURES = join(REPO, 'test/fixtures/sriov-cni');

let dir: { path: string; cleanup: () => void };
let node: SimNode;
const call = (c: Omit<CniCall, 'root'>) => cni({ netns: LIVE, ...c, root: node.root });
const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);

/** A fixture as a NAD would carry it, with `type` changed and the device Multus injects. */
function dropIn(file: string, deviceID: string): Record<string, unknown> {
  const c = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Record<string, any>;
  c.type = 'dpdk-cni';
  c.deviceID = deviceID;
  // host-local keeps its leases under the test's root, not the node's /var/lib/cni/networks
  if (c.ipam?.type === 'host-local') c.ipam = { ...c.ipam, dataDir: join(node.root, 'ipam') };
  return c;
}

beforeEach(() => {
  dir = tempDir();
  node = new SimNode(dir.path);
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(() => dir.cleanup());

/** What a PF-less device (a NIC passed through to a VM, ENA on vfio-pci) does with each fixture. */
const PFLESS_EXPECT: Record<string, 'ok' | 'version' | string[]> = {
  'sriov-cni-readme-ipam.json': ['vlan'],
  'sriov-cni-readme-dpdk.json': ['vlan'],
  'device-plugin-sriov-crd.json': 'version',
  'operator-minimal.json': 'ok',
  'operator-0.3.1-minimal.json': 'ok',
  'operator-zero-options.json': 'ok',
  'multus-legacy-if0.json': 'ok',
  'operator-full.json': ['vlan', 'spoofchk', 'trust', 'link_state', 'max_tx_rate'],
  'operator-0.3.1-openshift-template.json': ['vlan', 'spoofchk', 'trust'],
  'sriov-cni-configuration-reference.json': ['vlan', 'spoofchk', 'trust', 'link_state', 'min_tx_rate', 'max_tx_rate', 'mac (ca:fe:c0:ff:ee:00)'],
};

describe('sriov-cni configurations on a PF-less device (DPDK mode)', () => {
  it('every fixture has an expectation', () => {
    expect(readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()).toEqual(Object.keys(PFLESS_EXPECT).sort());
  });

  it.each(Object.entries(PFLESS_EXPECT))('%s: %o', (file, want) => {
    const conf = dropIn(file, PFLESS);
    const add = call({ command: 'ADD', conf });
    if (want === 'ok') {
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json.cniVersion).toBe(conf.cniVersion);
      expect(add.json.interfaces[0]).toMatchObject({ name: 'net1', sandbox: LIVE });
      if (conf.ipam && Object.keys(conf.ipam).length > 0) expect(add.json.ips[0].address).toMatch(/^10\.56\.217\.\d+\/24$/);
      else expect(add.json.ips).toBeUndefined();
      const del = call({ command: 'DEL', conf });
      expect(del.code, del.stdout).toBe(0);
      expect(ls(state('attachments'))).toEqual([]);
    } else if (want === 'version') {
      // no cniVersion: 0.1.0, which dpdk-cni does not speak (documented in docs/migrating-from-sriov-cni.md)
      expect(add.json.code, add.stdout).toBe(1);
      expect(add.json.msg).toContain('incompatible CNI versions: config is "0.1.0"');
      expect(ls(state('attachments'))).toEqual([]);
    } else {
      expect(add.json.code, add.stdout).toBe(103);
      expect(add.json.msg).toContain(`so ${want.join(', ')} cannot be applied`);
      expect(ls(state('attachments'))).toEqual([]);
    }
  });

  it.each([
    [{ vlan: 0 }],
    [{ vlan: 0, vlanQoS: 0 }],
    [{ vlan: 0, vlanQoS: 0, vlanProto: '802.1q' }],
    [{ vlan: 0, vlanProto: '802.1Q' }],
    [{ min_tx_rate: 0 }],
    [{ max_tx_rate: 0 }],
    [{ min_tx_rate: 0, max_tx_rate: 0 }],
    [{ ipam: {} }],
  ])('the zero/none value %o is a no-op, not a refusal', (extra) => {
    const conf = { cniVersion: '1.1.0', name: 'net', type: 'dpdk-cni', deviceID: PFLESS, ...extra };
    const add = call({ command: 'ADD', conf });
    expect(add.code, add.stdout).toBe(0);
    expect(add.json).toEqual({ cniVersion: '1.1.0', interfaces: [{ name: 'net1', sandbox: LIVE, pciID: PFLESS }] });
    expect(call({ command: 'CHECK', conf: { ...conf, prevResult: add.json } }).code).toBe(0);
    expect(call({ command: 'DEL', conf }).code).toBe(0);
  });

  it.each([
    [{ vlan: 0, max_tx_rate: 10 }, 'max_tx_rate'],
    [{ vlan: 7, vlanQoS: 0 }, 'vlan'],
    [{ min_tx_rate: 5, max_tx_rate: 0 }, 'min_tx_rate'],
    [{ spoofchk: 'off', vlan: 0 }, 'spoofchk'],
    [{ trust: 'off' }, 'trust'],
    [{ link_state: 'auto' }, 'link_state'],
  ])('anything but the zero/none value stays refused (103) on a PF-less device: %o names %s', (extra, name) => {
    const conf = { cniVersion: '1.1.0', name: 'net', type: 'dpdk-cni', deviceID: PFLESS, ...extra };
    const add = call({ command: 'ADD', conf });
    expect(add.json.code).toBe(103);
    expect(add.json.msg).toContain(`so ${name} cannot be applied`);
  });
});

describe('dns from the netconf goes into the result, merged with what IPAM returns', () => {
  const NETCONF_DNS = { nameservers: ['1.1.1.1', '2001:db8::53'], domain: 'pod.example', search: ['pod.example'], options: ['ndots:2'] };
  const base = (extra: Record<string, unknown>) => ({ name: 'net', type: 'dpdk-cni', deviceID: PFLESS, dns: NETCONF_DNS, ...extra });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('without IPAM ("ipam":{}), CNI %s: the result carries the netconf dns', (v) => {
    const add = call({ command: 'ADD', conf: base({ cniVersion: v, ipam: {} }) });
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.dns).toEqual(NETCONF_DNS);
  });

  it('host-local returns no dns: the netconf dns is the result dns', () => {
    const conf = base({ cniVersion: '1.0.0', ipam: { type: 'host-local', subnet: '10.56.217.0/24', dataDir: join(node.root, 'ipam') } });
    const add = call({ command: 'ADD', conf });
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.ips[0].address).toMatch(/^10\.56\.217\./);
    expect(add.json.dns).toEqual(NETCONF_DNS);
  });

  it('static IPAM returns dns: nameservers, search and options are unioned, the netconf domain wins', () => {
    const ipamDns = { nameservers: ['10.0.0.53', '1.1.1.1'], domain: 'ipam.example', search: ['ipam.example', 'pod.example'], options: ['rotate'] };
    const conf = base({ cniVersion: '1.1.0', ipam: { type: 'static', addresses: [{ address: '10.9.0.5/24' }], dns: ipamDns } });
    const add = call({ command: 'ADD', conf });
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.dns).toEqual({
      nameservers: ['1.1.1.1', '2001:db8::53', '10.0.0.53'],
      domain: 'pod.example',
      search: ['pod.example', 'ipam.example'],
      options: ['ndots:2', 'rotate'],
    });
  });

  it("a netconf dns without a domain keeps IPAM's domain", () => {
    const ipamDns = { nameservers: ['10.0.0.53'], domain: 'ipam.example' };
    const conf = { ...base({ cniVersion: '1.1.0', ipam: { type: 'static', addresses: [{ address: '10.9.0.5/24' }], dns: ipamDns } }), dns: { nameservers: ['1.1.1.1'] } };
    const add = call({ command: 'ADD', conf });
    expect(add.json.dns).toEqual({ nameservers: ['1.1.1.1', '10.0.0.53'], domain: 'ipam.example' });
  });

  it.each([
    [{ nameservers: '1.1.1.1' }, 'field "dns.nameservers" must be an array'],
    [{ domain: 5 }, 'field "dns.domain" must be a string'],
    [{ search: [1] }, 'field "dns.search.0" must be a string'],
    [{ nameservers: ['1.1.1.1', 'dns.example'] }, 'field "dns.nameservers.1" must be an IP address, got "dns.example"'],
  ])('a malformed dns %o is refused (7) naming the field, not dropped', (dns, msg) => {
    const add = call({ command: 'ADD', conf: base({ cniVersion: '1.1.0', dns }) });
    expect(add.json.code).toBe(7);
    expect(add.json.msg).toContain(msg);
    expect(ls(state('attachments'))).toEqual([]);
  });
});

/**
 * A VF under a simulated PF: the PF exists only in the simulated sysfs, so the test build's `ip`
 * (DPDK_CNI_TEST_TOOLS, test/helpers/fake-ip.mjs) plays its VF table as `ip -j -d link show`
 * prints it and applies `ip link set dev PF vf N ...` to it.
 */
describe('sriov-cni configurations on a VF (DPDK mode): VF settings applied through the PF, restored on DEL', () => {
  const PF = '0000:3b:00.0';
  let vfs: string[];
  let fake: string;
  let env: ReturnType<typeof fakeIpPf>['env'];
  const vfCall = (c: Omit<CniCall, 'root'>) => call({ ...c, bin: TEST_BIN, env });
  const db = () => JSON.parse(readFileSync(fake, 'utf8'));
  /** VF 1 as sriov-cni's fields name its state */
  const vf1 = () => {
    const v = db().ens1f0.vfinfo_list[1];
    return { mac: v.address, vlan: v.vlan_list[0].vlan ?? 0, vlanQoS: v.vlan_list[0].qos ?? 0, vlanProto: (v.vlan_list[0].protocol ?? '802.1Q').toLowerCase(), spoofchk: v.spoofchk ? 'on' : 'off', trust: v.trust ? 'on' : 'off', link_state: v.link_state, min_tx_rate: v.rate.min_tx, max_tx_rate: v.rate.max_tx };
  };
  const DEFAULT = { mac: '00:00:00:00:00:00', vlan: 0, vlanQoS: 0, vlanProto: '802.1q', spoofchk: 'on', trust: 'off', link_state: 'auto', min_tx_rate: 0, max_tx_rate: 0 };

  beforeEach(() => {
    ({ vfs, fake, env } = fakeIpPf(node, PF, { netdev: 'ens1f0', numVfs: 4, mtu: 9000 }));
  });

  /** What each fixture does on the VF: the settings that differ from the VF's defaults, and the commands written. */
  const VF_EXPECT: Record<string, { vf: Partial<typeof DEFAULT>; writes: string[] } | 'version'> = {
    'sriov-cni-readme-ipam.json': { vf: { vlan: 2222 }, writes: ['vlan 2222 qos 0'] },
    'sriov-cni-readme-dpdk.json': { vf: { vlan: 1000 }, writes: ['vlan 1000 qos 0'] },
    'device-plugin-sriov-crd.json': 'version',
    'operator-minimal.json': { vf: {}, writes: [] },
    'operator-0.3.1-minimal.json': { vf: {}, writes: [] },
    'operator-zero-options.json': { vf: {}, writes: [] },
    'multus-legacy-if0.json': { vf: {}, writes: [] },
    'operator-full.json': { vf: { vlan: 100, vlanQoS: 3, max_tx_rate: 1000 }, writes: ['vlan 100 qos 3', 'max_tx_rate 1000 min_tx_rate 0'] },
    'operator-0.3.1-openshift-template.json': { vf: { vlan: 121 }, writes: ['vlan 121 qos 0'] },
    'sriov-cni-configuration-reference.json': {
      vf: { mac: 'ca:fe:c0:ff:ee:00', vlan: 1000, vlanQoS: 4, vlanProto: '802.1ad', min_tx_rate: 100, max_tx_rate: 200, spoofchk: 'off', trust: 'on', link_state: 'enable' },
      writes: ['vlan 1000 qos 4 proto 802.1ad', 'mac ca:fe:c0:ff:ee:00', 'max_tx_rate 200 min_tx_rate 100', 'spoofchk off', 'trust on', 'state enable'],
    },
  };

  it('every fixture has an expectation', () => {
    expect(Object.keys(VF_EXPECT).sort()).toEqual(Object.keys(PFLESS_EXPECT).sort());
  });

  it.each(Object.entries(VF_EXPECT))('%s: ADD applies %o, CHECK passes, DEL restores the VF', (file, want) => {
    const conf = dropIn(file, vfs[1]!);
    const add = vfCall({ command: 'ADD', conf });
    if (want === 'version') {
      expect(add.json.code, add.stdout).toBe(1);
      expect(db().log ?? []).toEqual([]);
      return;
    }
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(vf1()).toEqual({ ...DEFAULT, ...want.vf });
    // a setting equal to what the VF has is not written (sriov-cni#291: a "vlan 0" write undoes a trunk policy)
    expect(db().log ?? []).toEqual(want.writes.map((w) => `link set dev ens1f0 vf 1 ${w}`));
    if (want.vf.mac) expect(add.json.interfaces[0].mac).toBe(want.vf.mac);
    const chk = vfCall({ command: 'CHECK', conf: { ...conf, prevResult: add.json } });
    if (conf.cniVersion !== '0.3.1') expect(chk.code, chk.stdout).toBe(0);
    const del = vfCall({ command: 'DEL', conf });
    expect(del.code, del.stdout).toBe(0);
    expect(vf1()).toEqual(DEFAULT);
    // DEL puts back only what ADD changed
    expect((db().log ?? []).length).toBe(want.writes.length * 2);
  });

  it('the device plugin\'s quick-start NAD (no cniVersion) works unchanged under Multus, which injects its own cniVersion into the delegate', () => {
    // callers.md: Multus sets name and cniVersion (its own configuration's) in every delegate's netconf
    const conf = { ...dropIn('device-plugin-sriov-crd.json', vfs[1]!), cniVersion: '0.3.1' };
    const add = vfCall({ command: 'ADD', conf });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.cniVersion).toBe('0.3.1');
    expect(add.json.ips[0].address).toMatch(/^10\.56\.217\.\d+\/24$/);
    expect(vfCall({ command: 'DEL', conf }).code).toBe(0);
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('DEL when the PF cannot be read (ip fails) but is still there: the VF settings are kept for a retry, never dropped with the state', () => {
    const conf = dropIn('operator-full.json', vfs[1]!);
    expect(vfCall({ command: 'ADD', conf }).code).toBe(0);
    const d = db();
    d.ens1f0.showFails = true;
    writeFileSync(fake, JSON.stringify(d));
    const del = vfCall({ command: 'DEL', conf });
    expect(del.code).toBe(1);
    expect(del.json.msg).toContain('cannot read PF ens1f0');
    expect(ls(state('attachments'))).toHaveLength(1);
    const ok = db();
    delete ok.ens1f0.showFails;
    writeFileSync(fake, JSON.stringify(ok));
    expect(vfCall({ command: 'DEL', conf }).code).toBe(0);
    expect(vf1()).toEqual(DEFAULT);
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('a setting equal to what the VF has is accepted on a driver without that feature; another value is still refused (104)', () => {
    const d = db();
    d.ens1f0.refuse = ['state', 'min_tx_rate', 'trust'];
    writeFileSync(fake, JSON.stringify(d));
    const same = { cniVersion: '1.0.0', name: 'net', type: 'dpdk-cni', deviceID: vfs[1], link_state: 'auto', trust: 'off', vlan: 0, vlanQoS: 0 };
    const add = vfCall({ command: 'ADD', conf: same });
    expect(add.code, add.stdout).toBe(0);
    expect(vfCall({ command: 'DEL', conf: same }).code).toBe(0);
    const other = { ...same, link_state: 'enable' };
    const r = vfCall({ command: 'ADD', conf: other });
    expect(r.json.code).toBe(104);
    expect(r.json.msg).toContain('ip link set dev ens1f0 vf 1 state enable failed: RTNETLINK answers: Operation not supported');
    expect(vf1()).toEqual(DEFAULT);
    expect(ls(state('attachments'))).toEqual([]);
  });
});

describe('Multus capabilities as sriov-cni NADs declare them', () => {
  it('capabilities mac + ips + deviceID on a PF-less device: runtimeConfig.deviceID picks the device, runtimeConfig.ips reach static IPAM, a runtimeConfig.mac it cannot take is refused (103)', () => {
    const conf = {
      ...dropIn('operator-zero-options.json', '0000:00:1f.7'),
      capabilities: { mac: true, ips: true, deviceID: true },
      ipam: { type: 'static' },
      runtimeConfig: { mac: '02:00:00:00:00:07', ips: ['10.9.0.7/24'], deviceID: PFLESS },
    };
    // a PF-less device: its own MAC is unknown, so a runtimeConfig.mac is refused (103) naming it
    const r = call({ command: 'ADD', conf });
    expect(r.json.code).toBe(103);
    expect(r.json.msg).toContain('so mac (02:00:00:00:00:07) cannot be applied');
    const { mac: _m, ...noMac } = conf.runtimeConfig;
    const add = call({ command: 'ADD', conf: { ...conf, runtimeConfig: noMac } });
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.interfaces[0].pciID).toBe(PFLESS);
    expect(add.json.ips).toEqual([{ address: '10.9.0.7/24', interface: 0 }]);
  });
});
