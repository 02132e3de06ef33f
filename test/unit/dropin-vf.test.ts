import { describe, expect, it } from 'vitest';
import { changedSettings, restoreCommands, type VfState } from '../../src/net/vf.js';
import { mergeDns } from '../../src/cni/result.js';

/** *unit*: the no-op rule for VF settings and the dns merge (issue 17). */
const CLEAN: VfState = { mac: '00:00:00:00:00:00', vlan: 0, qos: 0, proto: '802.1q', spoofchk: true, trust: false, linkState: 'auto', minTx: 0, maxTx: 0 };
const link = (vf: number, ...rest: string[]) => ['link', 'set', 'dev', 'pf0', 'vf', String(vf), ...rest];

describe('changedSettings: only what differs from the VF is written', () => {
  it.each([
    [{ vlan: 0, qos: 0, proto: '802.1q' as const }, {}],
    [{ vlan: 0, qos: 0, proto: '802.1ad' as const }, {}], // no tag: the protocol means nothing
    [{ vlan: 5, qos: 0 }, { vlan: 5, qos: 0, proto: '802.1q' }],
    [{ spoofchk: true, trust: false, linkState: 'auto' as const }, {}],
    [{ spoofchk: false }, { spoofchk: false }],
    [{ minTx: 0, maxTx: 0 }, {}],
    [{ minTx: 0, maxTx: 100 }, { minTx: 0, maxTx: 100 }],
    [{ mac: '00:00:00:00:00:00' }, {}],
    [{ mac: '02:00:00:00:00:01' }, { mac: '02:00:00:00:00:01' }],
  ])('%o on a clean VF → %o', (want, changed) => {
    expect(changedSettings(want, CLEAN)).toEqual(changed);
  });

  it('a VLAN with another priority or protocol is a change', () => {
    const tagged: VfState = { ...CLEAN, vlan: 5, qos: 1 };
    expect(changedSettings({ vlan: 5, qos: 1 }, tagged)).toEqual({});
    expect(changedSettings({ vlan: 5, qos: 2 }, tagged)).toEqual({ vlan: 5, qos: 2, proto: '802.1q' });
    expect(changedSettings({ vlan: 5, qos: 1, proto: '802.1ad' }, tagged)).toEqual({ vlan: 5, qos: 1, proto: '802.1ad' });
  });

  it('a setting the PF does not report is written', () => {
    const { spoofchk: _s, trust: _t, linkState: _l, ...unreported } = CLEAN;
    expect(changedSettings({ spoofchk: true, trust: false, linkState: 'auto' }, unreported)).toEqual({ spoofchk: true, trust: false, linkState: 'auto' });
  });

  it('restore puts back only what was changed, and with the current state only what is not back already', () => {
    const asked = { vlan: 0, qos: 0, proto: '802.1q' as const, trust: false, linkState: 'enable' as const };
    expect(restoreCommands('pf0', 3, asked, CLEAN)).toEqual([link(3, 'state', 'auto')]);
    expect(restoreCommands('pf0', 3, asked, CLEAN, CLEAN)).toEqual([]);
    expect(restoreCommands('pf0', 3, asked, CLEAN, { ...CLEAN, linkState: 'enable' })).toEqual([link(3, 'state', 'auto')]);
  });
});

describe('mergeDns', () => {
  it('unions the lists (netconf first, no duplicates) and takes the netconf domain, else IPAM\'s', () => {
    expect(mergeDns({ nameservers: ['1.1.1.1'], search: ['a'] }, { nameservers: ['10.0.0.53', '1.1.1.1'], domain: 'ipam', search: ['b', 'a'], options: ['rotate'] })).toEqual({
      nameservers: ['1.1.1.1', '10.0.0.53'], domain: 'ipam', search: ['a', 'b'], options: ['rotate'],
    });
    expect(mergeDns({ domain: 'conf' }, { domain: 'ipam' })).toEqual({ domain: 'conf' });
    expect(mergeDns(undefined, {})).toEqual({});
  });
});
