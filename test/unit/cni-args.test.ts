import { describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../src/cni/cni-args.js';
import { CniError } from '../../src/cni/errors.js';
import { pickMac } from '../../src/verbs/common.js';
import { loadNetConf } from '../../src/config/netconf.js';
import type { CmdArgs } from '../../src/cni/env.js';

function fails(raw: string): CniError {
  try {
    parseCniArgs(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error(`parseCniArgs(${JSON.stringify(raw)}) did not fail`);
}

describe('parseCniArgs', () => {
  it('an absent or empty CNI_ARGS is no arguments', () => {
    expect(parseCniArgs(undefined)).toEqual({ ignoreUnknown: false, other: {} });
    expect(parseCniArgs('')).toEqual({ ignoreUnknown: false, other: {} });
  });

  it('reads K=V;K=V pairs into the known Kubernetes fields', () => {
    expect(parseCniArgs('K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod-a;K8S_POD_UID=1234-abcd;K8S_POD_INFRA_CONTAINER_ID=f00d;MAC=02:00:00:00:00:01;IP=10.0.0.5/24')).toEqual({
      ignoreUnknown: false,
      podNamespace: 'ns1',
      podName: 'pod-a',
      podUid: '1234-abcd',
      infraContainerId: 'f00d',
      mac: '02:00:00:00:00:01',
      ip: '10.0.0.5/24',
      other: {},
    });
  });

  it("takes Multus' repeated keys with the last one winning, and IgnoreUnknown=true as well as =1", () => {
    const a = parseCniArgs(
      'IgnoreUnknown=true;K8S_POD_NAMESPACE=first;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u1;IgnoreUnknown=1;K8S_POD_NAMESPACE=last',
    );
    expect(a.podNamespace).toBe('last');
    expect(a.podName).toBe('web-0');
    expect(a.ignoreUnknown).toBe(true);
  });

  it.each(['1', 'true', 'TRUE', 'True'])('IgnoreUnknown=%s lets unknown keys through, kept in "other"', (v) => {
    const a = parseCniArgs(`IgnoreUnknown=${v};FOO=bar;BAZ=1`);
    expect(a.ignoreUnknown).toBe(true);
    expect(a.other).toEqual({ FOO: 'bar', BAZ: '1' });
  });

  it.each(['0', 'false', 'yes', ''])('IgnoreUnknown=%s does not: an unknown key is a code 4 error naming it', (v) => {
    const e = fails(`IgnoreUnknown=${v};FOO=bar`);
    expect(e.code).toBe(4);
    expect(e.message).toBe('CNI_ARGS: unknown key(s) FOO (set IgnoreUnknown=1 to allow them)');
  });

  it('a later IgnoreUnknown=0 overrides an earlier =1 (last wins for it too)', () => {
    expect(fails('IgnoreUnknown=1;FOO=bar;IgnoreUnknown=0').code).toBe(4);
  });

  it('names every unknown key once, in order of appearance', () => {
    expect(fails('FOO=1;BAR=2;FOO=3;K8S_POD_NAME=x').message).toContain('unknown key(s) FOO, BAR ');
  });

  it.each(['FOO', '=bar', 'K8S_POD_NAME=x;junk'])('a pair without KEY= (%j) is a code 4 error quoting it', (raw) => {
    const e = fails(raw);
    expect(e.code).toBe(4);
    expect(e.message).toMatch(/^CNI_ARGS: invalid pair ".*": expected KEY=VALUE$/);
  });

  it('splits at the first "=" so a value may contain "=", and skips empty segments (trailing ";")', () => {
    expect(parseCniArgs('K8S_POD_NAME=a=b;;').podName).toBe('a=b');
  });
});

/** MAC priority (sriov-cni's rule): runtimeConfig.mac > CNI_ARGS MAC > netconf mac. */
describe('pickMac', () => {
  const args = (cniArgs: string): CmdArgs => ({ command: 'ADD', containerId: 'c', netns: '/x', ifName: 'net1', path: [], args: parseCniArgs(cniArgs) });
  const conf = (extra: Record<string, unknown>) => loadNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', ...extra }));

  it('runtimeConfig.mac wins over CNI_ARGS MAC and the netconf mac', () => {
    expect(pickMac(conf({ mac: '02:00:00:00:00:03', runtimeConfig: { mac: '02:00:00:00:00:01' } }), args('MAC=02:00:00:00:00:02'))).toBe('02:00:00:00:00:01');
  });
  it('CNI_ARGS MAC wins over the netconf mac, and is lower-cased', () => {
    expect(pickMac(conf({ mac: '02:00:00:00:00:03' }), args('MAC=02:00:00:00:00:AB'))).toBe('02:00:00:00:00:ab');
  });
  it('the netconf mac is used when nothing else is given, lower-cased', () => {
    expect(pickMac(conf({ mac: '02:00:00:00:00:CD' }), args(''))).toBe('02:00:00:00:00:cd');
  });
  it('no MAC anywhere → none', () => {
    expect(pickMac(conf({}), args('K8S_POD_NAME=x'))).toBeUndefined();
  });
  it.each([
    ['MAC=zz:zz', 'CNI_ARGS MAC "zz:zz" is not a MAC address (expected xx:xx:xx:xx:xx:xx)'],
    ['MAC=01:00:5e:00:00:01', 'CNI_ARGS MAC "01:00:5e:00:00:01" is a multicast address; a device needs a unicast MAC'],
    ['MAC=00:00:00:00:00:00', 'CNI_ARGS MAC "00:00:00:00:00:00" is the all-zero address'],
  ])('an unusable CNI_ARGS %s is refused with code 7 naming CNI_ARGS MAC and the value', (raw, msg) => {
    let err: unknown;
    try {
      pickMac(conf({}), args(raw));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect([(err as CniError).code, (err as CniError).message]).toEqual([7, msg]);
  });
  it('an unusable CNI_ARGS MAC does not matter when runtimeConfig.mac is given', () => {
    expect(pickMac(conf({ runtimeConfig: { mac: '02:00:00:00:00:01' } }), args('MAC=junk'))).toBe('02:00:00:00:00:01');
  });
});
