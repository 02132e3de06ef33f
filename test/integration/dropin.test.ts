import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../sim/simnode.mjs';
import { cni, REPO, tempDir, type CniCall } from '../helpers/cni.js';

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
const PFLESS_EXPECT: Record<string, 'ok' | string[]> = {
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
