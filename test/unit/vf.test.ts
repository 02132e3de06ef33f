import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyCommands, diffVf, hasSettings, parsePfLink, parseVf, restoreCommands, restoreSettings, type VfState } from '../../src/net/vf.js';
import { REPO } from '../helpers/cni.js';

/** `ip -j -d link show dev eth2` of a netdevsim PF, shaped like the capture in vm-e2e.md §c. */
const NETDEVSIM = JSON.parse(readFileSync(`${REPO}/test/fixtures/ip-link/netdevsim-pf.json`, 'utf8')) as unknown[];

const CLEAN: VfState = { mac: '00:00:00:00:00:00', vlan: 0, qos: 0, proto: '802.1q', spoofchk: true, trust: false, linkState: 'auto', minTx: 0, maxTx: 0 };
const link = (pf: string, vf: number, ...rest: string[]) => ['link', 'set', 'dev', pf, 'vf', String(vf), ...rest];

describe('parsePfLink', () => {
  it('reads name, MTU and every VF of a netdevsim PF', () => {
    const pf = parsePfLink(NETDEVSIM);
    expect(pf?.ifname).toBe('eth2');
    expect(pf?.mtu).toBe(1500);
    expect([...(pf?.vfs.keys() ?? [])]).toEqual([0, 1, 2, 3]);
  });

  it('VF 0 as vm-e2e configured it: mac, vlan 100 qos 3, rates 10/100, spoofchk off, trust on, link-state enable', () => {
    expect(parsePfLink(NETDEVSIM)?.vfs.get(0)).toEqual({
      mac: '02:00:00:00:00:10', vlan: 100, qos: 3, proto: '802.1q', spoofchk: false, trust: true, linkState: 'enable', minTx: 10, maxTx: 100,
    });
  });

  it('VF 1: an 802.1ad VLAN from vlan_list[].protocol, and max rate from "ip link ... rate 50"', () => {
    expect(parsePfLink(NETDEVSIM)?.vfs.get(1)).toMatchObject({ vlan: 200, qos: 0, proto: '802.1ad', maxTx: 50, minTx: 0 });
  });

  it('VF 2: an untagged VF has vlan_list [{}] → vlan 0, qos 0, 802.1q', () => {
    expect(parsePfLink(NETDEVSIM)?.vfs.get(2)).toEqual({ ...CLEAN, spoofchk: false });
  });

  it('VF 3: the MAC is lower-cased; link-state disable; spoofchk on', () => {
    expect(parsePfLink(NETDEVSIM)?.vfs.get(3)).toMatchObject({ mac: '0a:1b:2c:3d:4e:5f', linkState: 'disable', spoofchk: true });
  });

  it('an older iproute2/kernel without vlan_list: top-level vlan/qos, tx_rate only', () => {
    expect(parseVf({ vf: 0, address: '02:00:00:00:00:01', vlan: 42, qos: 2, tx_rate: 300, spoofchk: true })).toEqual({
      mac: '02:00:00:00:00:01', vlan: 42, qos: 2, proto: '802.1q', spoofchk: true, minTx: 0, maxTx: 300,
    });
  });

  it('a driver that does not report spoofchk/trust/link_state leaves them unknown (not false)', () => {
    const v = parseVf({ vf: 0, address: '02:00:00:00:00:01', vlan_list: [{}] });
    expect(v.spoofchk).toBeUndefined();
    expect(v.trust).toBeUndefined();
    expect(v.linkState).toBeUndefined();
  });

  it('a PF without VFs has an empty map; junk or nothing is undefined', () => {
    expect(parsePfLink([{ ifname: 'eth0', mtu: 9000 }])).toEqual({ ifname: 'eth0', mtu: 9000, vfs: new Map() });
    expect(parsePfLink([])).toBeUndefined();
    expect(parsePfLink(undefined)).toBeUndefined();
    expect(parsePfLink([{ mtu: 1500 }])).toBeUndefined();
  });

  it('uses the real capture test/fixtures/ip-link-netdevsim.json when it is present', () => {
    const real = `${REPO}/test/fixtures/ip-link-netdevsim.json`;
    const json = existsSync(real) ? (JSON.parse(readFileSync(real, 'utf8')) as unknown) : NETDEVSIM;
    const arr = (Array.isArray(json) ? json : [json]) as Array<{ ifname: string; vfinfo_list?: Array<{ vf: number; address: string }> }>;
    const pf = parsePfLink(arr);
    expect(pf?.ifname).toBe(arr[0]?.ifname);
    for (const v of arr[0]?.vfinfo_list ?? []) expect(pf?.vfs.get(v.vf)?.mac).toBe(v.address.toLowerCase());
  });
});

describe('applyCommands', () => {
  it('one command per setting, in sriov-cni order: vlan, mac, rates, spoofchk, trust, state', () => {
    const cmds = applyCommands('ens1f0', 3, { linkState: 'enable', trust: true, spoofchk: false, maxTx: 1000, minTx: 100, mac: '02:00:00:00:00:42', vlan: 100, qos: 5, proto: '802.1q' }, CLEAN);
    expect(cmds).toEqual([
      link('ens1f0', 3, 'vlan', '100', 'qos', '5'),
      link('ens1f0', 3, 'mac', '02:00:00:00:00:42'),
      link('ens1f0', 3, 'max_tx_rate', '1000', 'min_tx_rate', '100'),
      link('ens1f0', 3, 'spoofchk', 'off'),
      link('ens1f0', 3, 'trust', 'on'),
      link('ens1f0', 3, 'state', 'enable'),
    ]);
  });

  it('nothing asked → no command', () => {
    expect(applyCommands('ens1f0', 0, {}, CLEAN)).toEqual([]);
    expect(hasSettings({})).toBe(false);
    expect(hasSettings({ vlan: 0 })).toBe(true);
  });

  it('802.1ad names the protocol; plain 802.1Q does not (drivers without VLAN lists refuse "proto")', () => {
    expect(applyCommands('p0', 1, { vlan: 200, qos: 0, proto: '802.1ad' }, CLEAN)).toEqual([link('p0', 1, 'vlan', '200', 'qos', '0', 'proto', '802.1ad')]);
    expect(applyCommands('p0', 1, { vlan: 200 }, CLEAN)).toEqual([link('p0', 1, 'vlan', '200', 'qos', '0')]);
  });

  it('802.1Q over a VF that is on 802.1ad names 802.1Q explicitly, or the kernel would keep 802.1ad', () => {
    expect(applyCommands('p0', 1, { vlan: 10, qos: 1, proto: '802.1q' }, { ...CLEAN, vlan: 200, proto: '802.1ad' })).toEqual([
      link('p0', 1, 'vlan', '10', 'qos', '1', 'proto', '802.1Q'),
    ]);
  });

  it('rates are set as a pair: a missing half keeps the VF\'s current value', () => {
    const orig = { ...CLEAN, minTx: 10, maxTx: 500 };
    expect(applyCommands('p0', 2, { maxTx: 100 }, orig)).toEqual([link('p0', 2, 'max_tx_rate', '100', 'min_tx_rate', '10')]);
    expect(applyCommands('p0', 2, { minTx: 50 }, orig)).toEqual([link('p0', 2, 'max_tx_rate', '500', 'min_tx_rate', '50')]);
    expect(applyCommands('p0', 2, { minTx: 0, maxTx: 0 }, orig)).toEqual([link('p0', 2, 'max_tx_rate', '0', 'min_tx_rate', '0')]);
  });
});

describe('restoreCommands (DEL, rollback)', () => {
  const orig = parsePfLink(NETDEVSIM)!.vfs.get(0)!; // vlan 100 qos 3, mac ..10, rates 10/100, spoofchk off, trust on, enable

  it('puts back exactly what was applied, from the saved originals', () => {
    const applied = { vlan: 7, qos: 0, proto: '802.1q' as const, mac: '02:00:00:00:00:99', spoofchk: true, trust: false, linkState: 'disable' as const, maxTx: 0, minTx: 0 };
    expect(restoreCommands('eth2', 0, applied, orig)).toEqual([
      link('eth2', 0, 'vlan', '100', 'qos', '3'),
      link('eth2', 0, 'mac', '02:00:00:00:00:10'),
      link('eth2', 0, 'max_tx_rate', '100', 'min_tx_rate', '10'),
      link('eth2', 0, 'spoofchk', 'off'),
      link('eth2', 0, 'trust', 'on'),
      link('eth2', 0, 'state', 'enable'),
    ]);
  });

  it('touches nothing that was not applied', () => {
    expect(restoreCommands('eth2', 0, { mac: '02:00:00:00:00:99' }, orig)).toEqual([link('eth2', 0, 'mac', '02:00:00:00:00:10')]);
    expect(restoreCommands('eth2', 0, {}, orig)).toEqual([]);
  });

  it('undoes an 802.1ad VLAN by naming 802.1Q (the original protocol)', () => {
    expect(restoreCommands('eth2', 2, { vlan: 300, qos: 0, proto: '802.1ad' }, CLEAN)).toEqual([link('eth2', 2, 'vlan', '0', 'qos', '0', 'proto', '802.1Q')]);
  });

  it('restores an original 802.1ad VLAN with its protocol', () => {
    const was = parsePfLink(NETDEVSIM)!.vfs.get(1)!;
    expect(restoreCommands('eth2', 1, { vlan: 5, qos: 0, proto: '802.1q' }, was)).toEqual([link('eth2', 1, 'vlan', '200', 'qos', '0', 'proto', '802.1ad')]);
  });

  it('rates come back as the original pair even if only one half was applied', () => {
    expect(restoreCommands('eth2', 0, { maxTx: 1 }, orig)).toEqual([link('eth2', 0, 'max_tx_rate', '100', 'min_tx_rate', '10')]);
  });

  it('a setting the driver never reported (spoofchk unknown) is not "restored" to a guess', () => {
    const unknown: VfState = { mac: '02:00:00:00:00:01', vlan: 0, qos: 0, proto: '802.1q', minTx: 0, maxTx: 0 };
    expect(restoreSettings({ spoofchk: false, trust: true, linkState: 'enable' }, unknown)).toEqual({});
  });
});

describe('diffVf (CHECK messages)', () => {
  const cur = parsePfLink(NETDEVSIM)!.vfs.get(0)!;

  it('no difference → no message', () => {
    expect(diffVf(cur, { vlan: 100, qos: 3, proto: '802.1q', mac: '02:00:00:00:00:10', spoofchk: false, trust: true, linkState: 'enable', minTx: 10, maxTx: 100 })).toEqual([]);
  });

  it('the MAC is compared case-insensitively', () => {
    expect(diffVf(cur, { mac: '02:00:00:00:00:10'.toUpperCase() })).toEqual([]);
  });

  it('every difference is one readable phrase with what is there and what was expected', () => {
    expect(diffVf(cur, { vlan: 200, qos: 0, proto: '802.1ad', mac: '02:00:00:00:00:11', spoofchk: true, trust: false, linkState: 'auto', minTx: 0, maxTx: 0 })).toEqual([
      'vlan is 100, expected 200',
      'vlanQoS is 3, expected 0',
      'vlanProto is 802.1q, expected 802.1ad',
      'mac is 02:00:00:00:00:10, expected 02:00:00:00:00:11',
      'spoofchk is off, expected on',
      'trust is on, expected off',
      'link_state is enable, expected auto',
      'max_tx_rate is 100, expected 0',
      'min_tx_rate is 10, expected 0',
    ]);
  });

  it('only what was asked is compared', () => {
    expect(diffVf(cur, { trust: false })).toEqual(['trust is on, expected off']);
  });

  it('vlanProto is not compared for vlan 0', () => {
    expect(diffVf({ ...CLEAN, proto: '802.1ad' }, { vlan: 0, qos: 0, proto: '802.1q' })).toEqual([]);
  });
});
