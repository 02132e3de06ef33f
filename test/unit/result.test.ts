import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { emptyResult, formatResult, parseResult, type Result } from '../../src/cni/result.js';

/** A result using every field the internal (1.1.0) shape has. */
const FULL: Result = {
  interfaces: [
    { name: 'eth0', mac: '0a:58:0a:80:00:05', mtu: 1450, sandbox: '/run/netns/cni-1' },
    { name: 'net1', mac: '02:00:00:aa:bb:01', mtu: 9000, sandbox: '/run/netns/cni-1', pciID: '0000:3b:02.1' },
    { name: 'vhu0', socketPath: '/var/run/vhost/vhu0.sock' },
  ],
  ips: [
    { address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 },
    { address: '192.168.1.200/24', gateway: '192.168.1.1', interface: 1 },
    { address: 'fd00::5/64', interface: 1 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.128.0.1' },
    { dst: '192.168.0.0/16', gw: '192.168.1.1', mtu: 9000, advmss: 8960, priority: 10, table: 100, scope: 0 },
  ],
  dns: { nameservers: ['10.1.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] },
};

const V1_JSON = {
  interfaces: [
    { name: 'eth0', mac: '0a:58:0a:80:00:05', mtu: 1450, sandbox: '/run/netns/cni-1' },
    { name: 'net1', mac: '02:00:00:aa:bb:01', mtu: 9000, sandbox: '/run/netns/cni-1', pciID: '0000:3b:02.1' },
    { name: 'vhu0', socketPath: '/var/run/vhost/vhu0.sock' },
  ],
  ips: [
    { interface: 0, address: '10.128.0.5/23', gateway: '10.128.0.1' },
    { interface: 1, address: '192.168.1.200/24', gateway: '192.168.1.1' },
    { interface: 1, address: 'fd00::5/64' },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.128.0.1' },
    { dst: '192.168.0.0/16', gw: '192.168.1.1', mtu: 9000, advmss: 8960, priority: 10, table: 100, scope: 0 },
  ],
  dns: { nameservers: ['10.1.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] },
};

const V0_JSON = {
  interfaces: [
    { name: 'eth0', mac: '0a:58:0a:80:00:05', sandbox: '/run/netns/cni-1' },
    { name: 'net1', mac: '02:00:00:aa:bb:01', sandbox: '/run/netns/cni-1' },
    { name: 'vhu0' },
  ],
  ips: [
    { version: '4', interface: 0, address: '10.128.0.5/23', gateway: '10.128.0.1' },
    { version: '4', interface: 1, address: '192.168.1.200/24', gateway: '192.168.1.1' },
    { version: '6', interface: 1, address: 'fd00::5/64' },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.128.0.1' },
    { dst: '192.168.0.0/16', gw: '192.168.1.1' },
  ],
  dns: { nameservers: ['10.1.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] },
};

describe('formatResult: the requested version', () => {
  it.each(['1.0.0', '1.1.0'])('%s: every field, in the Go types order (interfaces name/mac/mtu/sandbox/socketPath/pciID)', (v) => {
    const out = formatResult(FULL, v);
    expect(out).toEqual({ cniVersion: v, ...V1_JSON });
    expect(JSON.stringify(out)).toBe(JSON.stringify({ cniVersion: v, ...V1_JSON }));
  });

  it.each(['0.3.0', '0.3.1', '0.4.0'])('%s: no mtu/socketPath/pciID, ips[].version from the address, routes dst/gw only', (v) => {
    const out = formatResult(FULL, v);
    expect(JSON.stringify(out)).toBe(JSON.stringify({ cniVersion: v, ...V0_JSON }));
  });

  it('1.x omits empty lists and an empty dns; 0.x always has dns', () => {
    const r: Result = { ...emptyResult(), interfaces: [{ name: 'net1', sandbox: '/run/netns/x', pciID: '0000:00:06.0' }] };
    expect(formatResult(r, '1.1.0')).toEqual({ cniVersion: '1.1.0', interfaces: [{ name: 'net1', sandbox: '/run/netns/x', pciID: '0000:00:06.0' }] });
    expect(formatResult(r, '0.4.0')).toEqual({ cniVersion: '0.4.0', interfaces: [{ name: 'net1', sandbox: '/run/netns/x' }], dns: {} });
  });

  it('an IPAM-style result (no interfaces, no ips[].interface) stays that way', () => {
    const r: Result = { ...emptyResult(), ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }] };
    expect(formatResult(r, '1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }] });
    expect(formatResult(r, '0.3.1')).toEqual({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }], dns: {} });
  });
});

describe('parseResult: any supported version into the internal shape', () => {
  it('parses a 1.1.0 result to exactly the internal shape', () => {
    expect(parseResult({ cniVersion: '1.1.0', ...V1_JSON })).toEqual(FULL);
  });

  it('parses a 0.3.1 result, dropping ips[].version', () => {
    const r = parseResult({ cniVersion: '0.3.1', ...V0_JSON });
    expect(r.ips).toEqual([
      { address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 },
      { address: '192.168.1.200/24', gateway: '192.168.1.1', interface: 1 },
      { address: 'fd00::5/64', interface: 1 },
    ]);
    expect(r.interfaces[1]).toEqual({ name: 'net1', mac: '02:00:00:aa:bb:01', sandbox: '/run/netns/cni-1' });
  });

  it('accepts a prevResult without cniVersion (libcni may leave it out below 1.0.0)', () => {
    expect(parseResult({ interfaces: [{ name: 'eth0' }] }).interfaces).toEqual([{ name: 'eth0' }]);
  });

  it('ignores unknown keys and empty/invalid optional values', () => {
    const r = parseResult({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'a', mac: '', mtu: 0, sandbox: '', extra: 1 }],
      ips: [{ address: '10.0.0.1/24', interface: -1, gateway: '' }, { address: '10.0.0.2/24', interface: 1.5 }],
      routes: [{ dst: '0.0.0.0/0', gw: '', mtu: 'x' }],
      dns: { nameservers: [], domain: '', search: ['a', 5], options: 'x' },
      somethingElse: true,
    });
    expect(r).toEqual({
      interfaces: [{ name: 'a' }],
      ips: [{ address: '10.0.0.1/24' }, { address: '10.0.0.2/24' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { search: ['a'] },
    });
  });

  it.each([
    [5, 'prevResult is not a JSON object'],
    [[], 'prevResult is not a JSON object'],
    [{ interfaces: {} }, 'prevResult.interfaces is not an array'],
    [{ interfaces: [{ mac: '02:00:00:00:00:01' }] }, 'prevResult.interfaces has an entry without a name'],
    [{ ips: 'x' }, 'prevResult.ips is not an array'],
    [{ ips: [{ gateway: '10.0.0.1' }] }, 'prevResult.ips has an entry without an address'],
    [{ routes: [{ gw: '10.0.0.1' }] }, 'prevResult.routes has an entry without a dst'],
  ])('%j is code 6: %s', (raw, msg) => {
    let err: unknown;
    try {
      parseResult(raw, 'prevResult');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect([(err as CniError).code, (err as CniError).message]).toEqual([6, msg]);
  });
});

describe('round trips', () => {
  const versions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

  it.each(versions)('a %s result parsed and formatted in its own version is unchanged', (v) => {
    const wire = formatResult(FULL, v);
    expect(formatResult(parseResult(wire), v)).toEqual(wire);
  });

  it.each(versions.flatMap((from) => versions.map((to) => [from, to])))('%s → %s converts, never copies the other shape', (from, to) => {
    const wire = formatResult(FULL, from);
    const out = formatResult(parseResult(wire), to);
    expect(out.cniVersion).toBe(to);
    const fromV1 = from.startsWith('1.');
    const toV1 = to.startsWith('1.');
    if (toV1) {
      expect((out.ips as Array<Record<string, unknown>>).every((ip) => !('version' in ip))).toBe(true);
      // what the source version could not carry is not invented
      expect(out.interfaces).toEqual(fromV1 ? V1_JSON.interfaces : V0_JSON.interfaces);
      expect(out.routes).toEqual(fromV1 ? V1_JSON.routes : V0_JSON.routes);
    } else {
      expect(out).toEqual({ cniVersion: to, ...V0_JSON });
    }
    expect(out.dns).toEqual(V1_JSON.dns);
  });
});
