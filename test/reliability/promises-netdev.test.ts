/**
 * Issue #13, kernel-netdev half: written promises about netdev mode that no other test tried
 * (table: docs/promises.md). Real network namespaces; a veth end in the host stands in for the
 * virtio-net NIC's netdev, the simulated sysfs tree says which PCI function owns it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, isRoot, sh, tempDir, type CniCall } from '../helpers/cni.js';
import { NetFixture, virtioNic } from '../helpers/netns.js';

describe.runIf(isRoot)('netdev mode promises (root)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let vfname: string;
  let ifname: string;
  const planted: string[] = [];
  const PCI = '0000:00:10.0';
  const MAC = '02:00:00:00:13:01';
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'prom-kern', type: 'dpdk-cni', deviceID: PCI, ...extra });
  const call = (c: Omit<CniCall, 'root'>) => cni({ ifname, ...c, root: node.root });
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  const nsName = (p: string) => p.split('/').pop() as string;
  /** What the kernel does when a pod's netns dies: a physical netdev comes back to the host under its pod name. */
  function podDies(pod: string, name: string): void {
    expect(sh('ip', ['-n', nsName(pod), 'link', 'set', name, 'netns', '1']).code).toBe(0);
    net.links.push(name);
    expect(sh('ip', ['netns', 'del', nsName(pod)]).code).toBe(0);
  }

  beforeEach(() => {
    dir = tempDir('dpdk-cni-promises-nd-');
    node = new SimNode(dir.path);
    net = new NetFixture();
    ifname = `pn${net.id}`;
    vfname = virtioNic(node, net, PCI, `dp${net.id}`, { mac: MAC, mtu: 1500 });
  });
  afterEach(() => {
    for (const p of planted.splice(0)) rmSync(p, { force: true });
    net.cleanup();
    dir.cleanup();
  });

  it('README "moved back with its original name, MAC, MTU and up-state": a device that was down comes back down', () => {
    const pod = net.netns();
    expect(net.link(vfname).flags).not.toContain('UP');
    const add = call({ command: 'ADD', conf: conf({ mac: '02:11:22:33:44:66', mtu: 1400 }), netns: pod });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(net.link(ifname, pod)).toMatchObject({ address: '02:11:22:33:44:66', mtu: 1400 });
    expect(net.link(ifname, pod).flags).toContain('UP');
    const del = call({ command: 'DEL', conf: conf(), netns: pod });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    const back = net.link(vfname);
    expect(back).toMatchObject({ ifname: vfname, address: MAC, mtu: 1500 });
    expect(back.flags).not.toContain('UP');
  });

  it('README "DEL succeeds when ... the netns ... is no longer a netns": the path is now a plain file; DEL finds the device in the host by PCI address and restores it', () => {
    sh('ip', ['link', 'set', vfname, 'up']);
    const pod = net.netns();
    expect(call({ command: 'ADD', conf: conf({ mac: '02:11:22:33:44:77', mtu: 1400 }), netns: pod }).code).toBe(0);
    podDies(pod, ifname);
    writeFileSync(pod, ''); // what a runtime's cleanup can leave: a plain file at the old mount point
    planted.push(pod);
    const del = call({ command: 'DEL', conf: conf(), netns: pod });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    const back = net.link(vfname);
    expect(back).toMatchObject({ ifname: vfname, address: MAC, mtu: 1500 });
    expect(back.flags).toContain('UP');
    expect(net.link(ifname)).toBeUndefined();
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('README "A late DEL ... whose device has since passed to another pod leaves the device\'s settings alone"', () => {
    const podA = net.netns('a');
    const podB = net.netns('b');
    expect(call({ command: 'ADD', conf: conf({ mac: '02:00:00:00:aa:01' }), containerId: 'podA', netns: podA }).code).toBe(0);
    podDies(podA, ifname);
    const b = call({ command: 'ADD', conf: conf({ mac: '02:00:00:00:bb:01', mtu: 1300 }), containerId: 'podB', netns: podB });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(net.link(ifname, podB)).toMatchObject({ address: '02:00:00:00:bb:01', mtu: 1300 });
    const lateA = call({ command: 'DEL', conf: conf(), containerId: 'podA', netns: podA });
    expect([lateA.code, lateA.stdout], lateA.stderr).toEqual([0, '']);
    const inB = net.link(ifname, podB);
    expect(inB).toMatchObject({ address: '02:00:00:00:bb:01', mtu: 1300 });
    expect(inB.flags).toContain('UP');
    expect(net.link(vfname)).toBeUndefined();
    expect(ls(state('attachments'))).toEqual(['prom-kern@podB@' + ifname + '.json']);
    expect(call({ command: 'CHECK', conf: conf({ mac: '02:00:00:00:bb:01', mtu: 1300, prevResult: b.json }), containerId: 'podB', netns: podB }).code).toBe(0);
  });

  it('security.md "ip, nsenter: by absolute path ... never through PATH": planted ones are never run by ADD, CHECK or DEL', () => {
    const evil = join(dir.path, 'evil-bin');
    mkdirSync(evil);
    const ran = join(dir.path, 'ran');
    for (const p of ['ip', 'nsenter']) writeFileSync(join(evil, p), `#!/bin/sh\necho ${p} "$@" >> ${ran}\nexit 0\n`, { mode: 0o755 });
    const env = { PATH: `${evil}:${process.env.PATH}` };
    const pod = net.netns();
    const add = call({ command: 'ADD', conf: conf({ mtu: 1400 }), netns: pod, env });
    expect(add.code, add.stdout).toBe(0);
    expect(net.link(ifname, pod)).toMatchObject({ mtu: 1400 });
    expect(call({ command: 'CHECK', conf: conf({ mtu: 1400, prevResult: add.json }), netns: pod, env }).code).toBe(0);
    expect(call({ command: 'DEL', conf: conf(), netns: pod, env }).code).toBe(0);
    expect(net.link(vfname)).toMatchObject({ mtu: 1500 });
    expect(existsSync(ran), existsSync(ran) ? readFileSync(ran, 'utf8') : '').toBe(false);
  });

  it('README "DEL succeeds when ... the device is gone": the netdev vanished from the pod and the function from sysfs (VF destroyed)', () => {
    const pod = net.netns();
    expect(call({ command: 'ADD', conf: conf({ mtu: 1400 }), netns: pod }).code).toBe(0);
    expect(sh('ip', ['-n', nsName(pod), 'link', 'del', ifname]).code).toBe(0);
    rmSync(node.realDir(PCI), { recursive: true, force: true });
    rmSync(join(node.root, 'sys/bus/pci/devices', PCI), { force: true });
    const del = call({ command: 'DEL', conf: conf(), netns: pod });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });

  it('README intro "DEL restores everything ADD changed, even when the saved state is gone": the netdev comes back to the host as it was', () => {
    sh('ip', ['link', 'set', vfname, 'up']);
    const pod = net.netns();
    expect(call({ command: 'ADD', conf: conf({ mac: '02:11:22:33:44:88', mtu: 1400 }), netns: pod }).code).toBe(0);
    rmSync(state('attachments', `prom-kern@c0ffee@${ifname}.json`));
    const del = call({ command: 'DEL', conf: conf(), netns: pod });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(net.link(vfname)).toMatchObject({ ifname: vfname, address: MAC, mtu: 1500 });
  });
});
