import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { BIN, isRoot, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { pluginDir } from '../callers/driver.js';
import { Containerd, multusDevinfoPlugin } from '../callers/containerd.js';

/**
 * The path kubelet drives: Debian's containerd 1.6 with its CRI plugin runs pod sandboxes through
 * the CRI gRPC API (RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox) and calls
 * dpdk-cni from its CNI conf_dir as the pod's network (test/callers/containerd.ts). One containerd
 * of the test's own (scratch root, state and socket) serves the whole file; each test writes its
 * conflist and restarts it, since CRI reads the CNI configuration at start.
 */
// generous: each test restarts containerd and runs pods, on a machine other suites load too
describe.runIf(isRoot)('containerd CRI caller (root)', { timeout: 180_000 }, () => {
  let top: { path: string; cleanup: () => void };
  let node: SimNode;
  let ctd: Containerd;
  let net: NetFixture;
  let ipamDir: string;
  const pods: string[] = [];
  const MAC = '02:00:00:5f:00:01';

  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const attachments = () => ls(state('attachments')).filter((f) => f.endsWith('.json'));
  const markers = () => ls(state('devices'));
  const leases = (n: string) => ls(join(ipamDir, n)).filter((f) => /^\d+\./.test(f));
  const podNetns = () => ls(join(ctd.state, 'io.containerd.grpc.v1.cri', 'netns'));
  /** `ip -j addr` of `dev` inside the netns at `path` (a CRI netns lives under containerd's state dir). */
  function inPod(path: string, args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('nsenter', [`--net=${path}`, ...args], { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  const podLink = (path: string, dev: string) => {
    const r = inPod(path, ['ip', '-j', 'addr', 'show', 'dev', dev]);
    return r.code === 0 ? JSON.parse(r.stdout)[0] : undefined;
  };
  const addrs = (l: any) => (l?.addr_info ?? []).filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`);

  async function run(name: string): Promise<string> {
    const id = await ctd.runPod(name);
    pods.push(id);
    return id;
  }
  async function stopAndRemove(id: string): Promise<void> {
    await ctd.stopPod(id);
    await ctd.removePod(id);
    pods.splice(pods.indexOf(id), 1);
  }
  /** A PF-less PCI function whose kernel netdev is a real veth end in the host. */
  function kernelDevice(pci: string, name: string): string {
    const vf = net.veth(name, { mac: MAC, mtu: 1500 });
    node.pci(pci, { driver: 'iavf', device: '1889' });
    node.netdev(pci, vf, { mac: MAC, mtu: 1500 });
    return vf;
  }
  /** Nothing of the attachment is left on the node: state, marker, lease, the netdev home as it was. */
  function released(vf: string | undefined, network: string): void {
    if (vf) expect(net.link(vf)).toMatchObject({ ifname: vf, address: MAC, mtu: 1500 });
    expect(attachments()).toEqual([]);
    expect(markers()).toEqual([]);
    expect(leases(network)).toEqual([]);
  }
  const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet }]] });

  beforeAll(async () => {
    top = tempDir('dpdk-cni-ctd-');
    node = new SimNode(join(top.path, 'node'));
    ipamDir = join(top.path, 'ipam');
    const bin = pluginDir(join(top.path, 'bin'), { root: node.root, plugins: ['host-local', 'tuning', 'loopback'] }); // CRI runs loopback itself
    multusDevinfoPlugin(bin, 'dpdk-cni-multus', BIN, node.root);
    ctd = new Containerd(join(top.path, 'containerd'), bin);
    await ctd.start();
    ctd.importSandboxImage();
  }, 120_000);
  afterAll(async () => {
    await ctd?.cleanup();
    top?.cleanup();
  }, 60_000);
  beforeEach(() => {
    net = new NetFixture();
  });
  afterEach(async () => {
    // a failed test leaves no pod behind for the next one
    for (const id of [...pods]) {
      await ctd.stopPod(id).catch(() => undefined);
      await ctd.removePod(id).catch(() => undefined);
      pods.splice(pods.indexOf(id), 1);
    }
    net.cleanup();
  }, 120_000);

  it('kernel mode: the pod sandbox netns holds the device with its address, MAC and MTU; stop puts it back and releases everything', async () => {
    const PCI = '0000:5f:00.0';
    const vf = kernelDevice(PCI, `ck${net.id}`);
    ctd.network({
      cniVersion: '1.0.0', name: 'ctdkern',
      plugins: [{ type: 'dpdk-cni', deviceID: PCI, mtu: 1400, mac: '02:aa:bb:cc:5f:01', ipam: hostLocal('10.81.0.0/24') }],
    });
    await ctd.restart();

    const id = await run('kern');
    const st = await ctd.status(id);
    expect(st.state).toBe('SANDBOX_READY');
    expect(st.ip).toBe('10.81.0.2'); // containerd took the pod IP from dpdk-cni's result
    expect(st.netns, st.netns).toMatch(new RegExp(`^${ctd.state}/io.containerd.grpc.v1.cri/netns/cni-`));
    const l = podLink(st.netns, 'eth0');
    expect(l).toMatchObject({ ifname: 'eth0', address: '02:aa:bb:cc:5f:01', mtu: 1400 });
    expect(addrs(l)).toEqual(['10.81.0.2/24']);
    expect(net.link(vf)).toBeUndefined();
    expect(attachments()).toEqual([`ctdkern@${id}@eth0.json`]);
    expect(markers()).toEqual([`${PCI}.json`]);

    await ctd.stopPod(id);
    released(vf, 'ctdkern');
    await stopAndRemove(id);
    expect(podNetns()).toEqual([]);
  });

  it('DPDK mode: the ADD result is recorded by containerd and in the state, the device-info file is written; stop releases them', async () => {
    const vfs = node.sriovPf('0000:3d:00.0', { netdev: 'ctdpf0', numVfs: 2 });
    const devinfo = (id: string) => join(node.root, `var/run/k8s.cni.cncf.io/devinfo/cni/default-ctddpdk-${id}_eth0`);
    // containerd needs an address on eth0 in the result: DPDK mode allocates it (not applied)
    ctd.network({
      cniVersion: '1.0.0', name: 'ctddpdk',
      plugins: [{ type: 'dpdk-cni-multus', deviceID: vfs[1], ipam: hostLocal('10.82.0.0/24') }],
    });
    await ctd.restart();

    const id = await run('dpdk');
    const st = await ctd.status(id);
    expect(st.state).toBe('SANDBOX_READY');
    expect(st.ip).toBe('10.82.0.2');
    // containerd keeps the result dpdk-cni returned (what kubelet's pod IP comes from)
    expect(st.cniResult?.Interfaces?.eth0).toMatchObject({ Sandbox: st.netns, IPConfigs: [{ IP: '10.82.0.2' }] });
    const saved = JSON.parse(readFileSync(state('attachments', `ctddpdk@${id}@eth0.json`), 'utf8'));
    expect(saved).toMatchObject({ phase: 'added', mode: 'dpdk', pci: vfs[1], driver: 'vfio-pci', netns: st.netns });
    expect(saved.result.interfaces).toEqual([expect.objectContaining({ name: 'eth0', sandbox: st.netns, pciID: vfs[1] })]);
    expect(markers()).toEqual([`${vfs[1]}.json`]);
    expect(JSON.parse(readFileSync(devinfo(id), 'utf8'))).toMatchObject({ type: 'pci', version: '1.1.0', pci: { 'pci-address': vfs[1], 'pf-pci-address': '0000:3d:00.0' } });
    // nothing was moved: the pod netns holds only its loopback
    expect(inPod(st.netns, ['ip', '-o', 'link', 'show']).stdout.trim().split('\n')).toHaveLength(1);

    await stopAndRemove(id);
    released(undefined, 'ctddpdk');
    expect(existsSync(devinfo(id))).toBe(false);
    expect(podNetns()).toEqual([]);
  });

  it('a containerd restart between RunPodSandbox and StopPodSandbox loses nothing: the pod keeps the device, stop after the restart releases it', async () => {
    const PCI = '0000:60:00.0';
    const vf = kernelDevice(PCI, `cr${net.id}`);
    ctd.network({ cniVersion: '1.0.0', name: 'ctdrestart', plugins: [{ type: 'dpdk-cni', deviceID: PCI, ipam: hostLocal('10.83.0.0/24') }] });
    await ctd.restart();
    const id = await run('restart');
    const before = await ctd.status(id);

    await ctd.restart();
    const after = await ctd.status(id);
    expect(after).toMatchObject({ state: 'SANDBOX_READY', ip: '10.83.0.2', netns: before.netns });
    expect(addrs(podLink(after.netns, 'eth0'))).toEqual(['10.83.0.2/24']);
    expect(attachments()).toEqual([`ctdrestart@${id}@eth0.json`]);
    expect(leases('ctdrestart')).toEqual(['10.83.0.2']);

    await ctd.stopPod(id);
    released(vf, 'ctdrestart');
    await stopAndRemove(id);
    expect(podNetns()).toEqual([]);
  });

  it('an ADD dpdk-cni refuses makes RunPodSandbox fail with its message and leaves nothing behind', async () => {
    const PCI = '0000:61:00.0';
    const vf = kernelDevice(PCI, `cf${net.id}`);
    // a VLAN on a PF-less device cannot be honoured: code 103
    ctd.network({ cniVersion: '1.0.0', name: 'ctdrefused', plugins: [{ type: 'dpdk-cni', deviceID: PCI, vlan: 100, ipam: hostLocal('10.84.0.0/24') }] });
    await ctd.restart();

    const err = await ctd.runPod('refused').then(() => undefined, (e: Error) => e);
    // CRI passes the plugin's message on: `plugin type="dpdk-cni" failed (add): PCI device … has no PF … vlan …`
    expect(err?.message).toContain('plugin type="dpdk-cni" failed (add)');
    expect(err?.message).toContain(PCI);
    expect(err?.message).toMatch(/vlan/);
    released(vf, 'ctdrefused');
    expect(podNetns()).toEqual([]);
    // the device is free: the same pod with a netconf dpdk-cni accepts runs
    ctd.network({ cniVersion: '1.0.0', name: 'ctdrefused', plugins: [{ type: 'dpdk-cni', deviceID: PCI, ipam: hostLocal('10.84.0.0/24') }] });
    await ctd.restart();
    const id = await run('refused');
    expect(addrs(podLink((await ctd.status(id)).netns, 'eth0'))).toEqual(['10.84.0.2/24']);
    await stopAndRemove(id);
    released(vf, 'ctdrefused');
  });

  it('chained with Debian\'s tuning plugin: the MAC and sysctl tuning sets are what the pod sees; stop restores the device', async () => {
    const PCI = '0000:62:00.0';
    const vf = kernelDevice(PCI, `ct${net.id}`);
    ctd.network({
      cniVersion: '1.0.0', name: 'ctdtuning',
      plugins: [
        { type: 'dpdk-cni', deviceID: PCI, ipam: hostLocal('10.85.0.0/24') },
        { type: 'tuning', mac: '02:77:77:77:77:01', sysctl: { 'net.ipv4.conf.eth0.arp_ignore': '2' } },
      ],
    });
    await ctd.restart();

    const id = await run('tuning');
    const st = await ctd.status(id);
    expect(st.ip).toBe('10.85.0.2');
    const l = podLink(st.netns, 'eth0');
    expect(l).toMatchObject({ address: '02:77:77:77:77:01' });
    expect(addrs(l)).toEqual(['10.85.0.2/24']);
    expect(inPod(st.netns, ['cat', '/proc/sys/net/ipv4/conf/eth0/arp_ignore']).stdout.trim()).toBe('2');
    expect(st.cniResult?.Interfaces?.eth0?.Mac).toBe('02:77:77:77:77:01');

    await stopAndRemove(id);
    released(vf, 'ctdtuning');
    expect(podNetns()).toEqual([]);
  });

  it('a chained plugin after dpdk-cni that fails makes RunPodSandbox fail; containerd\'s DEL of the list releases what dpdk-cni had done', async () => {
    const PCI = '0000:63:00.0';
    const vf = kernelDevice(PCI, `cx${net.id}`);
    ctd.network({
      cniVersion: '1.0.0', name: 'ctdchainfail',
      plugins: [
        { type: 'dpdk-cni', deviceID: PCI, mac: '02:aa:bb:cc:63:01', ipam: hostLocal('10.86.0.0/24') },
        { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.no_such_setting': '1' } },
      ],
    });
    await ctd.restart();

    const err = await ctd.runPod('chainfail').then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain('plugin type="tuning" failed (add)');
    // dpdk-cni's ADD had moved the device and taken a lease: all undone by the DEL containerd sends
    released(vf, 'ctdchainfail');
    expect(podNetns()).toEqual([]);
  });

  it('DPDK mode without IPAM as containerd\'s own network: containerd refuses a result with no address on eth0, and its DEL releases the device', async () => {
    const vfs = node.sriovPf('0000:3e:00.0', { netdev: 'ctdpf1', numVfs: 1 });
    ctd.network({ cniVersion: '1.0.0', name: 'ctdnoip', plugins: [{ type: 'dpdk-cni', deviceID: vfs[0] }] });
    await ctd.restart();

    const err = await ctd.runPod('noip').then(() => undefined, (e: Error) => e);
    // containerd 1.6 takes the pod IP from eth0's addresses in the result and fails the sandbox without one
    expect(err?.message).toContain('failed to find network info for sandbox');
    released(undefined, 'ctdnoip');
    expect(podNetns()).toEqual([]);
  });
});
