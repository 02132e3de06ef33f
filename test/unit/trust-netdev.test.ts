import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { makeHost, type Host } from '../../src/sys/host.js';
import type { Exec } from '../../src/sys/exec.js';
import { nullLogger } from '../../src/log/logger.js';
import { restoreUnsavedNetdev } from '../../src/verbs/del-unsaved.js';
import { tmpNameFor } from '../../src/net/netdev.js';

/**
 * DEL without state or marker on real hardware: the pod's netdev whose `ip -d` parent is the PCI
 * function is the device (a parent a pod cannot give to a link it creates). The simulated node's
 * veth has no parent, so this is tried here against recorded `ip` answers: a VF in the pod renamed
 * eth9 (parentbus pci) and a pod veth called net1 next to it.
 */
describe('DEL without state or marker: the pod netdev is found by its PCI parent only', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  const PCI = '0000:3b:02.1';
  const POD = '/proc/self/ns/net'; // a live network namespace
  const KEY = { net: 'n', containerID: 'c0ffee', ifname: 'net1' };
  const VF = { ifindex: 9, ifname: 'eth9', address: '02:11:22:33:44:55', mtu: 1400, flags: ['UP'], parentbus: 'pci', parentdev: PCI };
  const IMPOSTOR = { ifindex: 12, ifname: 'net1', address: '02:11:22:33:44:55', mtu: 1400, flags: ['UP'], linkinfo: { info_kind: 'veth' } };

  function fake(pod: unknown[]): { host: Host; cmds: string[] } {
    const cmds: string[] = [];
    const exec: Exec = (file, args, opts) => {
      const line = [file, ...args].join(' ') + (opts?.input ? ` <<${opts.input.trim().split('\n').join(' | ')}` : '');
      cmds.push(line);
      const inPod = args[0]?.startsWith('--net=');
      if (args.includes('show')) {
        const dev = args[args.indexOf('dev') + 1];
        if (args.includes('dev')) return { code: 0, stdout: JSON.stringify(dev === tmpNameFor(PCI) ? [{ ...VF, ifname: dev }] : []), stderr: '' };
        return { code: 0, stdout: JSON.stringify(inPod ? pod : []), stderr: '' };
      }
      return { code: 0, stdout: '', stderr: '' };
    };
    return { host: { ...makeHost({ DPDK_CNI_ROOT: dir.path }), exec, tool: (n: string) => `/usr/sbin/${n}` }, cmds };
  }

  beforeEach(() => {
    dir = tempDir('dpdk-cni-trust-nd-unit-');
    node = new SimNode(dir.path);
    node.pci(PCI, { driver: 'iavf' });
    node.netdev(PCI, 'ens1f0v1', { mac: '02:00:00:00:00:07', mtu: 1500 }); // what sysfs knows of it
  });
  afterEach(() => dir.cleanup());

  it('moves back the VF (renamed eth9 by the pod) under its sysfs name, MAC and MTU; the pod veth named net1 is not touched', () => {
    const { host, cmds } = fake([IMPOSTOR, VF]);
    restoreUnsavedNetdev(host, KEY, PCI, POD, nullLogger);
    const changes = cmds.filter((c) => !c.includes(' show'));
    expect(changes).toHaveLength(2);
    const tmp = tmpNameFor(PCI);
    expect(changes[0]).toContain(`--net=${POD}`);
    expect(changes[0]).toContain(`link set dev eth9 name ${tmp}`);
    expect(changes[0]).toContain(`link set dev ${tmp} netns /proc/${process.pid}/ns/net`);
    expect(changes[1]).toContain(`link set dev ${tmp} name ens1f0v1`);
    expect(changes[1]).toContain('link set dev ens1f0v1 address 02:00:00:00:00:07');
    expect(changes[1]).toContain('link set dev ens1f0v1 mtu 1500');
    expect(cmds.join('\n')).not.toMatch(/dev net1\b/);
  });

  it('only a pod veth under the name, no netdev with this PCI parent: nothing is moved', () => {
    const { host, cmds } = fake([IMPOSTOR]);
    restoreUnsavedNetdev(host, KEY, PCI, POD, nullLogger);
    expect(cmds.filter((c) => !c.includes(' show'))).toEqual([]);
  });

  it('a DPDK-bound function (no netdev) costs nothing: no ip is run', () => {
    node.bind(PCI, 'vfio-pci');
    const { host, cmds } = fake([VF]);
    restoreUnsavedNetdev(host, KEY, PCI, POD, nullLogger);
    expect(cmds).toEqual([]);
  });
});

describe('ADD learns the pod ifindex without one more process', () => {
  it('the read of the device rides at the end of the pod-side ip -batch (-j -d), and its ifindex is what moveIn returns', async () => {
    const { moveIn } = await import('../../src/net/netdev.js');
    const calls: Array<{ args: string[]; input?: string }> = [];
    const exec: Exec = (_file, args, opts) => {
      calls.push({ args: [...args], input: opts?.input });
      const show = opts?.input?.includes('link show dev net1');
      return { code: 0, stdout: show ? JSON.stringify([{ ifindex: 42, ifname: 'net1', address: '02:00:00:00:00:09', mtu: 1500, flags: ['UP', 'LOWER_UP'], linkinfo: { info_kind: 'veth' } }]) : '', stderr: '' };
    };
    const host = { ...makeHost({}), exec, tool: (n: string) => `/usr/sbin/${n}` };
    const st = { hostName: 'ens1f0v1', tmpName: 'dcni0123456789', podName: 'net1', origMac: '02:00:00:00:00:01', mac: '02:00:00:00:00:09', origMtu: 1500, mtu: 1500, wasUp: true };
    const l = moveIn(host, st, '/run/netns/pod', [{ address: '10.1.0.5/24' }], []);
    expect(calls).toHaveLength(2); // host side, pod side: as before
    // the same process first sets the address announcement's sysctl in the pod (a shell that execs ip)
    expect(calls[1]!.args).toEqual(['--net=/run/netns/pod', '/usr/sbin/sh', '-c', expect.any(String), 'sh', '/proc/sys/net/ipv4/conf/dcni0123456789/arp_notify', '--', '/usr/sbin/ip', '-j', '-d', '-batch', '-']);
    expect(calls[1]!.input?.trim().split('\n').pop()).toBe('link show dev net1');
    expect(l).toMatchObject({ ifindex: 42, kind: 'veth' });
  });
});
