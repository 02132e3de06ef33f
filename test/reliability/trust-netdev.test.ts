/**
 * The pod's netdev at DEL and CHECK: a pod with CAP_NET_ADMIN can rename the device ADD moved in
 * and give its name to a link of its own (a veth whose peer it keeps). DEL must move back only the
 * device ADD moved in, CHECK must tell them apart; and DEL must restore the device when the
 * attachment state is lost. Real network namespaces; a veth end in the host stands in for the
 * virtio-net NIC's netdev, the simulated sysfs tree says which PCI function owns it.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cni, isRoot, sh, tempDir, type CniCall } from '../helpers/cni.js';
import { NetFixture, virtioNic } from '../helpers/netns.js';

describe.runIf(isRoot)('trust: the pod netdev at DEL and CHECK (root)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let vfname: string;
  let ifname: string;
  let pod: string;
  const PCI = '0000:00:14.0'; // not netdev.test.ts' address: the temporary name derives from it, and the files run at once
  const MAC = '02:00:00:00:14:01';
  const POD_MAC = '02:11:22:33:44:99';
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'trust-nd', type: 'dpdk-cni', deviceID: PCI, ...extra });
  const call = (c: Omit<CniCall, 'root'>) => cni({ ifname, netns: pod, ...c, root: node.root });
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const stateFile = () => state('attachments', `trust-nd@c0ffee@${ifname}.json`);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  const inPod = (...a: string[]) => sh('ip', ['-n', pod.split('/').pop() as string, ...a]);
  const podLinks = (): Array<{ ifname: string; ifindex: number; address: string; linkinfo?: { info_kind?: string } }> => JSON.parse(inPod('-j', '-d', 'link', 'show').stdout);
  /** The attack: the pod renames the device and creates a veth called like it (peer kept in the pod), made to look the same. */
  function impostor(rename: string): void {
    expect(inPod('link', 'set', ifname, 'down').code).toBe(0);
    expect(inPod('link', 'set', ifname, 'name', rename).code).toBe(0);
    expect(inPod('link', 'set', rename, 'up').code).toBe(0);
    expect(inPod('link', 'add', ifname, 'type', 'veth', 'peer', 'name', `k${net.id}`).code).toBe(0);
    expect(inPod('link', 'set', ifname, 'address', POD_MAC, 'mtu', '1400', 'up').code).toBe(0);
  }
  /** A host-side veth end stands in for the device: it must be back in the host, itself (its peer in the park netns). */
  function backInHost(): void {
    const back = net.link(vfname);
    expect(back, 'the device is back in the host').toBeDefined();
    expect(back).toMatchObject({ ifname: vfname, address: MAC, mtu: 1500 });
    expect(back.link_netnsid, 'the veth whose peer is parked, not one of the pod').toBeDefined();
  }

  beforeEach(() => {
    dir = tempDir('dpdk-cni-trust-nd-');
    node = new SimNode(dir.path);
    net = new NetFixture();
    ifname = `tn${net.id}`;
    vfname = virtioNic(node, net, PCI, `dt${net.id}`, { mac: MAC, mtu: 1500 });
    pod = net.netns();
  });
  afterEach(() => {
    net.cleanup();
    dir.cleanup();
  });

  it('the pod renames its netdev and creates a veth under its name: DEL moves back the real device and leaves the pod\'s veth in the pod', () => {
    expect(call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) }).code).toBe(0);
    impostor('eth9');
    const del = call({ command: 'DEL', conf: conf() });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    backInHost();
    const left = podLinks().map((l) => l.ifname).sort();
    expect(left).toContain(ifname); // the pod's own veth stayed where it was made
    expect(left).not.toContain('eth9');
    expect(net.link(`k${net.id}`)).toBeUndefined();
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('CHECK reports (108) that the interface under the name is not the device ADD moved in, even when it looks the same', () => {
    const add = call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) });
    expect(add.code).toBe(0);
    expect(call({ command: 'CHECK', conf: conf({ mac: POD_MAC, mtu: 1400, prevResult: add.json }) }).code).toBe(0);
    impostor('eth9');
    const chk = call({ command: 'CHECK', conf: conf({ mac: POD_MAC, mtu: 1400, prevResult: add.json }) });
    expect(chk.code).toBe(1);
    expect(chk.json.code).toBe(108);
    expect(chk.json.msg).toContain(`interface ${ifname} in the pod is not the device ADD moved in`);
    expect(chk.json.msg).toContain('is now named eth9');
  });

  it('the pod only renames its netdev: DEL still moves it back (by its identity), CHECK says what it is called now', () => {
    const add = call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) });
    expect(add.code).toBe(0);
    expect(inPod('link', 'set', ifname, 'down').code).toBe(0);
    expect(inPod('link', 'set', ifname, 'name', 'eth7', 'up').code).toBe(0);
    const chk = call({ command: 'CHECK', conf: conf({ mac: POD_MAC, mtu: 1400, prevResult: add.json }) });
    expect(chk.json?.code, chk.stdout).toBe(108);
    expect(chk.json.msg).toContain('is now named eth7');
    const del = call({ command: 'DEL', conf: conf() });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    backInHost();
    expect(podLinks().map((l) => l.ifname)).toEqual(['lo']);
  });

  it('the device left the pod and a macvlan of the pod took its name, ifindex and MAC: DEL moves nothing of the pod into the host', () => {
    expect(call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) }).code).toBe(0);
    const idx = podLinks().find((l) => l.ifname === ifname)!.ifindex;
    // the device leaves the pod (here: back to the host by hand, as if another actor took it)
    expect(inPod('link', 'set', ifname, 'netns', '1').code).toBe(0);
    net.links.push(ifname);
    // a macvlan (on a veth pair of the pod's) with the device's name, index and MAC
    expect(inPod('link', 'add', `k${net.id}`, 'type', 'veth', 'peer', 'name', `q${net.id}`).code).toBe(0);
    const mv = inPod('link', 'add', 'link', `k${net.id}`, 'name', ifname, 'index', String(idx), 'address', POD_MAC, 'type', 'macvlan', 'mode', 'bridge');
    expect(mv.code, mv.stderr).toBe(0);
    const del = call({ command: 'DEL', conf: conf() });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(podLinks().find((l) => l.ifname === ifname)?.ifindex, 'the pod link stays in the pod').toBe(idx);
    backInHost(); // the device itself, found in the host, is restored
    expect(net.link(`k${net.id}`)).toBeUndefined();
  });

  it('a state saved by an older release (no identity) still works, and the name fallback is checked against the MAC ADD set', () => {
    expect(call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) }).code).toBe(0);
    const st = JSON.parse(readFileSync(stateFile(), 'utf8'));
    expect(st.netdev.id).toMatchObject({ kind: 'veth', ifindex: expect.any(Number) });
    delete st.netdev.id;
    writeFileSync(stateFile(), JSON.stringify(st));
    // an impostor with another MAC is not taken for the device
    impostor('eth9');
    expect(inPod('link', 'set', ifname, 'address', '02:66:66:66:66:66').code).toBe(0);
    const del = call({ command: 'DEL', conf: conf() });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(net.link(vfname), 'the impostor did not come into the host').toBeUndefined();
    expect(podLinks().map((l) => l.ifname)).toContain(ifname);
  });

  it('a state saved by an older release (no identity): an untouched attachment is released as before', () => {
    expect(call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) }).code).toBe(0);
    const st = JSON.parse(readFileSync(stateFile(), 'utf8'));
    delete st.netdev.id;
    writeFileSync(stateFile(), JSON.stringify(st));
    const del = call({ command: 'DEL', conf: conf() });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    backInHost();
  });

  describe('DEL with the attachment state gone (deleted by hand, lost on a reinstall) while the pod lives', () => {
    const devinfo = (cid: string) => `/var/run/k8s.cni.cncf.io/devinfo/cni/default-trust-nd-${cid}_${ifname}`;

    it('the netdev comes back to the host from what the allocation marker recorded, even after the pod renamed it and made a veth under its name', () => {
      sh('ip', ['link', 'set', vfname, 'up']);
      expect(call({ command: 'ADD', conf: conf({ mac: POD_MAC, mtu: 1400 }) }).code).toBe(0);
      rmSync(stateFile());
      impostor('eth9');
      const del = call({ command: 'DEL', conf: conf() });
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
      backInHost();
      expect(net.link(vfname).flags).toContain('UP');
      expect(podLinks().map((l) => l.ifname)).toContain(ifname); // the pod's veth stays in the pod
      expect(ls(state('devices'))).toEqual([]);
      // a repeated DEL finds nothing more to do
      expect(call({ command: 'DEL', conf: conf() }).code).toBe(0);
      backInHost();
    });

    it('the device-info file Multus names is removed only when it is this attachment\'s (ADD\'s name rule), never another pod\'s', () => {
      const mine = devinfo('c0ffee');
      const theirs = devinfo('other');
      expect(call({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: mine } }) }).code).toBe(0);
      writeFileSync(join(node.root, theirs), '{"type":"pci","version":"1.1.0"}');
      rmSync(stateFile());
      const wrong = call({ command: 'DEL', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: theirs } }) });
      expect([wrong.code, wrong.stdout], wrong.stderr).toEqual([0, '']);
      expect(existsSync(join(node.root, theirs)), 'another attachment\'s file is left alone').toBe(true);
      expect(wrong.stderr).toContain('not removed');
      const del = call({ command: 'DEL', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: mine } }) });
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
      expect(existsSync(join(node.root, mine))).toBe(false);
    });

    it('state and marker both gone: nothing is moved by name (a device without a PCI parent cannot be told from a pod link); DEL succeeds', () => {
      expect(call({ command: 'ADD', conf: conf({ mac: POD_MAC }) }).code).toBe(0);
      rmSync(stateFile());
      rmSync(state('devices', `${PCI}.json`));
      const before = podLinks().map((l) => l.ifindex).sort();
      const del = call({ command: 'DEL', conf: conf() });
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
      expect(podLinks().map((l) => l.ifindex).sort()).toEqual(before);
    });
  });
});
