import { describe, expect, it } from 'vitest';
import { hostUseOf, hostUseReasons, parseRoute, parseUsage } from '../../src/net/usage.js';
import { vfUseReasons } from '../../src/state/vf-use.js';
import { hostUseCommands } from '../../src/net/netdev.js';

// The in-use test every caller applies (CNI ADD, bind/unbind, inspect, doctor, dp-config): facts
// as `ip -j -d addr show` and `ip -j route show table all dev X` print them, reasons out.

const link = (ifname: string, more: Record<string, unknown> = {}) => ({ ifindex: 1, ifname, flags: ['BROADCAST', 'MULTICAST', 'UP'], addr_info: [], ...more });
const v6ll = { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' };
const v4 = (a: string, p = 24) => ({ family: 'inet', local: a, prefixlen: p, scope: 'global' });

describe('parseUsage / hostUseReasons', () => {
  it('an interface that is merely up (fe80:: address, the kernel\'s own routes) is not in use', () => {
    const routes = [
      { dst: 'fe80::/64', protocol: 'kernel', metric: 256, pref: 'medium' },
      { type: 'multicast', dst: 'ff00::/8', table: 'local', protocol: 'kernel', metric: 256 },
      { type: 'local', dst: 'fe80::1', table: 'local', protocol: 'kernel' },
    ];
    const u = parseUsage('eth1', [link('eth1', { addr_info: [v6ll] })], routes);
    expect(u).toMatchObject({ present: true, up: true, addresses: [], routes: [], uppers: [] });
    expect(hostUseReasons('eth1', u)).toEqual([]);
  });

  it('an address and routes through it: one reason naming them; a down interface "has" them', () => {
    const routes = [
      { dst: '192.0.2.0/24', protocol: 'kernel', scope: 'link', prefsrc: '192.0.2.10' },
      { dst: 'default', gateway: '192.0.2.1', metric: 100 },
      { type: 'local', dst: '192.0.2.10', table: 'local', protocol: 'kernel', scope: 'host' },
      { type: 'broadcast', dst: '192.0.2.255', table: 'local', protocol: 'kernel', scope: 'link' },
    ];
    const u = parseUsage('ens5', [link('ens5', { addr_info: [v4('192.0.2.10'), v6ll] })], routes);
    expect(hostUseReasons('ens5', u)).toEqual(['ens5 is up with addresses 192.0.2.10/24 and routes 192.0.2.0/24, default via 192.0.2.1']);
    const down = parseUsage('ens5', [link('ens5', { flags: ['BROADCAST'], addr_info: [v4('192.0.2.10')] })], []);
    expect(hostUseReasons('ens5', down)).toEqual(['ens5 has addresses 192.0.2.10/24']);
  });

  it('a bridge port or bond slave names its master and the master\'s kind', () => {
    const links = [link('eth1', { master: 'br0' }), link('br0', { linkinfo: { info_kind: 'bridge' } })];
    expect(hostUseReasons('eth1', parseUsage('eth1', links, []))).toEqual(['eth1 is a port of bridge br0']);
    const bond = [link('eth2', { master: 'bond0' }), link('bond0', { linkinfo: { info_kind: 'bond' } })];
    expect(hostUseReasons('eth2', parseUsage('eth2', bond, []))).toEqual(['eth2 is a port of bond bond0']);
  });

  it('a macvlan or vlan on it with addresses counts; one without, and a veth peer elsewhere, do not', () => {
    const links = [
      link('eth1'),
      link('mv0', { link: 'eth1', linkinfo: { info_kind: 'macvlan' }, addr_info: [v4('10.0.0.2')] }),
      link('eth1.100', { link: 'eth1', linkinfo: { info_kind: 'vlan' }, addr_info: [v6ll] }),
      link('veth0', { link: 'eth1', link_netnsid: 0, linkinfo: { info_kind: 'veth' }, addr_info: [v4('10.1.0.2')] }),
    ];
    const u = parseUsage('eth1', links, []);
    expect(u.uppers.map((x) => x.name)).toEqual(['mv0']);
    expect(hostUseReasons('eth1', u)).toEqual(['macvlan mv0 on eth1 has addresses 10.0.0.2/24']);
  });

  it('a netdev that is not in the namespace is not judged', () => {
    const u = parseUsage('gone', [link('eth0', { addr_info: [v4('10.0.0.1')] })], undefined);
    expect(u.present).toBe(false);
    expect(hostUseReasons('gone', u)).toEqual([]);
  });
});

describe('parseRoute', () => {
  it('keeps what is needed to add a route back, and tells IPv6 from IPv4', () => {
    expect(parseRoute({ dst: '198.51.100.0/24', gateway: '192.0.2.1', metric: 50, table: '100', protocol: 'static' })).toEqual({
      dst: '198.51.100.0/24', gateway: '192.0.2.1', metric: 50, table: '100', protocol: 'static', family: 4,
    });
    expect(parseRoute({ dst: 'default', gateway: 'fe80::1', metric: 1024, pref: 'medium' })).toMatchObject({ dst: 'default', family: 6 });
    expect(parseRoute({ dst: 'default', gateway: '192.0.2.1' })).toMatchObject({ family: 4 });
    expect(parseRoute({ dst: '10.0.0.0/8', table: 'main' })).toEqual({ dst: '10.0.0.0/8', family: 4 });
    for (const r of [{ type: 'local', dst: '10.0.0.1' }, { type: 'broadcast', dst: '10.0.0.255' }, { dst: 'fe80::/64' }, { dst: '10.0.0.1', table: 'local' }, 'x', null]) {
      expect(parseRoute(r)).toBeUndefined();
    }
  });
});

describe('what DEL puts back ("allowInUse")', () => {
  it('master, then addresses, then the routes the kernel does not re-create itself', () => {
    const u = parseUsage('eth1', [link('eth1', { master: 'br0', addr_info: [v4('192.0.2.10'), { family: 'inet6', local: '2001:db8::10', prefixlen: 64, scope: 'global' }] })], [
      { dst: '192.0.2.0/24', protocol: 'kernel', scope: 'link', prefsrc: '192.0.2.10' },
      { dst: '198.51.100.0/24', gateway: '192.0.2.1', metric: 50 },
      { dst: 'default', gateway: 'fe80::1', metric: 1024, pref: 'medium', protocol: 'ra' },
      { dst: '203.0.113.0/24', scope: 'link', table: '100' },
    ]);
    const use = hostUseOf(u);
    expect(use).toBeDefined();
    expect(hostUseCommands('eth1', use!)).toEqual([
      ['link', 'set', 'dev', 'eth1', 'master', 'br0'],
      ['addr', 'replace', '192.0.2.10/24', 'dev', 'eth1'],
      ['addr', 'replace', '2001:db8::10/64', 'dev', 'eth1'],
      ['route', 'replace', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', 'eth1', 'metric', '50'],
      ['route', 'replace', '::/0', 'via', 'fe80::1', 'dev', 'eth1', 'metric', '1024', 'proto', 'ra'],
      ['route', 'replace', '203.0.113.0/24', 'dev', 'eth1', 'table', '100', 'scope', 'link'],
    ]);
    expect(hostUseOf(parseUsage('eth1', [link('eth1')], []))).toBeUndefined();
  });
});

describe('vfUseReasons', () => {
  it('names every VF in a pod, and nothing when none is', () => {
    const m = (c: string) => ({ key: { net: 'n', containerID: c, ifname: 'net1' }, netns: '/run/netns/x' });
    expect(vfUseReasons('0000:3b:00.0', [])).toEqual([]);
    expect(vfUseReasons('0000:3b:00.0', [{ index: 0, pci: '0000:3b:02.0', marker: m('a') }, { index: 3, pci: '0000:3b:02.3', marker: m('b') }])).toEqual([
      'SR-IOV PF 0000:3b:00.0 has VFs in pods: VF 0 (0000:3b:02.0) is attached to container a (network n, net1); VF 3 (0000:3b:02.3) is attached to container b (network n, net1)',
    ]);
  });
});
