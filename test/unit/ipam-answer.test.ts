import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { isCidr, isIP, isIPv4, isIPv6 } from '../../src/cni/ip.js';
import { ipamAnswer } from '../../src/ipam/answer.js';

const WHO = 'IPAM plugin x ADD result';
function refused(answer: unknown, ...parts: string[]): CniError {
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  let err: unknown;
  try {
    ipamAnswer(text, WHO);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CniError);
  const e = err as CniError;
  expect(e.code).toBe(106);
  for (const p of parts) expect(e.message).toContain(p);
  return e;
}

describe('IP syntax', () => {
  it.each(['0.0.0.0', '10.1.2.3', '255.255.255.255'])('IPv4 %s', (s) => expect(isIPv4(s)).toBe(true));
  it.each(['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.4 ', '', 'a.b.c.d', '1..2.3'])('not IPv4 %j', (s) => expect(isIPv4(s)).toBe(false));
  it.each(['::', '::1', 'fd00::5', '2001:db8:0:0:0:0:0:1', 'fe80::1:2:3:4:5:6', '::ffff:10.1.2.3', '1:2:3:4:5:6:1.2.3.4'])('IPv6 %s', (s) => expect(isIPv6(s)).toBe(true));
  it.each([':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', 'fe80::1%eth0', '1.2.3.4', '::1.2.3', ':1::', '1::2:'])('not IPv6 %j', (s) => expect(isIPv6(s)).toBe(false));
  it.each([['10.0.0.0/8', true], ['10.0.0.1/32', true], ['10.0.0.1/33', false], ['10.0.0.1', false], ['10.0.0.1/08', false], ['fd00::/64', true], ['fd00::/129', false], ['x/24', false], ['10.0.0.1/', false]] as const)(
    'CIDR %s → %s', (s, ok) => expect(isCidr(s)).toBe(ok),
  );
  it('isIP takes either family, not a prefix', () => {
    expect([isIP('10.0.0.1'), isIP('fd00::1'), isIP('10.0.0.1/24')]).toEqual([true, true, false]);
  });
});

describe('ipamAnswer: an IPAM ADD answer checked before use', () => {
  it('a well-formed answer becomes the internal result', () => {
    const r = ipamAnswer(JSON.stringify({
      cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd00::5/64' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }], dns: { nameservers: ['10.1.0.10', 'fd00::10'] },
    }), WHO);
    expect(r.ips).toEqual([{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd00::5/64' }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }]);
    expect(r.dns.nameservers).toEqual(['10.1.0.10', 'fd00::10']);
  });

  it('0.3.x answers (ips with version) are taken', () => {
    const r = ipamAnswer(JSON.stringify({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.0.5/24' }] }), WHO);
    expect(r.ips).toEqual([{ address: '10.1.0.5/24' }]);
  });

  it.each([
    [{ cniVersion: '0.2.0', ip4: { ip: '10.1.0.5/24' } }, '0.2.0'],
    [{ ip4: { ip: '10.1.0.5/24' } }, 'ip4'],
    [{ cniVersion: '0.1.0', ip6: { ip: 'fd00::5/64' } }, '0.1.0'],
  ])('the 0.1/0.2 format %j is refused (it would give an ADD without addresses)', (a, part) => {
    refused(a, part, 'ip4/ip6', 'cannot use');
  });

  it.each([
    ['not json at all', 'is not JSON'],
    ['[1,2]', 'not a JSON object'],
    ['null', 'not a JSON object'],
    ['{"cniVersion":1}', 'cniVersion that is not a string'],
    ['{"ips":{}}', 'malformed', 'ips is not an array'],
    ['{"ips":[{"address":5}]}', 'malformed', 'without an address'],
  ])('%s → 106', (text, ...parts) => {
    refused(text, ...parts);
  });

  it.each([
    [{ ips: [{ address: '10.1.0.500/24' }] }, 'ips[0].address "10.1.0.500/24" is not an IP address with a prefix length'],
    [{ ips: [{ address: '10.1.0.5' }] }, 'ips[0].address "10.1.0.5"'],
    [{ ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1/24' }] }, 'ips[0].gateway "10.1.0.1/24" is not an IP address'],
    [{ routes: [{ dst: 'default' }] }, 'routes[0].dst "default" is not an IP prefix'],
    [{ routes: [{ dst: '::/0', gw: 'fe80::1%eth0' }] }, 'routes[0].gw "fe80::1%eth0"'],
    [{ dns: { nameservers: ['dns.example.com'] } }, 'dns.nameservers[0] "dns.example.com"'],
  ])('%j → 106 naming the field and the value', (a, part) => {
    refused({ cniVersion: '1.1.0', ...a }, part);
  });

  it('every bad field is listed in one message', () => {
    refused({ ips: [{ address: 'a' }, { address: 'b/1' }], routes: [{ dst: 'c' }] }, 'ips[0].address "a"', 'ips[1].address "b/1"', 'routes[0].dst "c"');
  });

  it('quotes at most 80 characters of a bad value', () => {
    const long = 'x'.repeat(5000);
    const e = refused({ ips: [{ address: long }] }, 'ips[0].address');
    expect(e.message).toContain(`"${'x'.repeat(76)}..."`.slice(0, 80));
    expect(e.message.length).toBeLessThan(250);
    const g = refused(`garbage ${long}`, 'is not JSON');
    expect(g.message.length).toBeLessThan(200);
  });
});
