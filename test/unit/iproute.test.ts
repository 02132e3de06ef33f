import { describe, expect, it } from 'vitest';
import { ipRun } from '../../src/net/iproute.js';
import { makeHost } from '../../src/sys/host.js';
import type { Exec } from '../../src/sys/exec.js';
import { restoreCommands } from '../../src/net/vf.js';
import { moveInCommands, podSetupCommands } from '../../src/net/netdev.js';

// ipRun turns a list of iproute2 commands into as few processes as it safely can: one
// `ip -batch -` when every token survives iproute2's batch tokenizer, one `ip` per command when
// not. Each process is ~5 ms of a CNI call (docs/performance.md).

function recorder(fail?: (input: string) => { code: number; stderr: string } | undefined) {
  const calls: { file: string; args: string[]; input?: string }[] = [];
  const exec: Exec = (file, args, opts) => {
    calls.push({ file, args: [...args], input: opts?.input });
    const f = fail?.(opts?.input ?? args.join(' '));
    return f ? { code: f.code, stdout: '', stderr: f.stderr } : { code: 0, stdout: '', stderr: '' };
  };
  const host = { ...makeHost({}), exec, tool: (n: string) => `/usr/sbin/${n}` };
  return { host, calls };
}

describe('ipRun', () => {
  it('MAC addresses and IPv6 addresses go through one batch (":" is batch-safe)', () => {
    const { host, calls } = recorder();
    const st = { hostName: 'ens1f0v1', tmpName: 'dcni0123456789', podName: 'net1', origMac: '02:00:00:00:00:01', mac: 'da:46:94:b4:62:d0', origMtu: 1500, mtu: 9000, wasUp: true };
    ipRun(host, moveInCommands(st, '/run/netns/pod'));
    ipRun(host, podSetupCommands(st, [{ address: 'fd00:10::5/64' }, { address: '10.1.0.5/24' }], [{ dst: 'fd00:20::/64', gw: 'fd00:10::1' }]), '/run/netns/pod');
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual({ file: '/usr/sbin/ip', args: ['-batch', '-'], input: expect.stringContaining('link set dev ens1f0v1 address da:46:94:b4:62:d0\n') });
    expect(calls[1]!.args).toEqual(['--net=/run/netns/pod', '/usr/sbin/ip', '-batch', '-']);
    expect(calls[1]!.input).toContain('addr add fd00:10::5/64 dev net1\n');
    expect(calls[1]!.input).toContain('route add fd00:20::/64 via fd00:10::1 dev net1\n');
  });

  it('VF restore (MAC, VLAN, spoofchk...) is one process', () => {
    const { host, calls } = recorder();
    const cmds = restoreCommands('ens1f0', 3, { mac: '02:11:22:33:44:55', vlan: 100, spoofchk: false }, { mac: '00:00:00:00:00:00', vlan: 0, qos: 0, proto: '802.1q', spoofchk: true, minTx: 0, maxTx: 0 });
    expect(cmds.length).toBeGreaterThan(1);
    ipRun(host, cmds);
    expect(calls).toHaveLength(1);
  });

  it('a token iproute2 would split or drop (quote, #, space) makes it one process per command', () => {
    const { host, calls } = recorder();
    ipRun(host, [['link', 'set', 'dev', 'a', 'alias', 'x#y'], ['link', 'set', 'dev', 'a', 'up']]);
    expect(calls.map((c) => c.args)).toEqual([['link', 'set', 'dev', 'a', 'alias', 'x#y'], ['link', 'set', 'dev', 'a', 'up']]);
  });

  it('a failing batch line is named in the error (the command, not the batch)', () => {
    const { host } = recorder((input) => (input.includes('mtu') ? { code: 1, stderr: 'Error: mtu greater than device maximum.\nCommand failed -:2\n' } : undefined));
    expect(() => ipRun(host, [['link', 'set', 'dev', 'e1', 'address', '02:00:00:00:00:09'], ['link', 'set', 'dev', 'e1', 'mtu', '9999']]))
      .toThrow(/^ip link set dev e1 mtu 9999 failed: Error: mtu greater than device maximum\.$/);
  });
});

describe('the pod-side process with the announcement sysctls', () => {
  const st = { hostName: 'ens1f0v1', tmpName: 'dcni0123456789', podName: 'net1', origMac: '02:00:00:00:00:01', mac: '02:00:00:00:00:01', origMtu: 1500, mtu: 1500, wasUp: true };

  it('addresses come before the link is up (the kernel announces them on NETDEV_UP), routes after', () => {
    const c = podSetupCommands(st, [{ address: '10.1.0.5/24' }], [{ dst: '10.9.0.0/16', gw: '10.1.0.1' }]).map((x) => x.join(' '));
    expect(c).toEqual(['link set dev dcni0123456789 name net1', 'addr add 10.1.0.5/24 dev net1', 'link set dev net1 up', 'route add 10.9.0.0/16 via 10.1.0.1 dev net1']);
  });

  it('a sysctl the shell cannot write fails the ADD with a message naming it (104), before any ip command', async () => {
    const { moveIn } = await import('../../src/net/netdev.js');
    const { host, calls } = recorder((input) => (input.includes('name net1') ? { code: 97, stderr: '/proc/sys/net/ipv6/conf/dcni0123456789/ndisc_notify' } : undefined));
    expect(() => moveIn(host, st, '/run/netns/pod', [{ address: 'fd00::5/64' }], [])).toThrow(/cannot set \/proc\/sys\/net\/ipv6\/conf\/dcni0123456789\/ndisc_notify to 1 in the network namespace \/run\/netns\/pod/);
    expect(calls[1]!.args.slice(0, 7)).toEqual(['--net=/run/netns/pod', '/usr/sbin/sh', '-c', expect.any(String), 'sh', '/proc/sys/net/ipv6/conf/dcni0123456789/ndisc_notify', '--']);
  });
});
