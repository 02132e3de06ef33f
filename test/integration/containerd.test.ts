import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../sim/simnode.mjs';
import { BIN, isRoot, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { pluginDir } from '../callers/driver.js';
import { Containerd } from '../callers/containerd.js';

/**
 * The path kubelet drives: Debian's containerd 1.6 with its CRI plugin runs pod sandboxes through
 * the CRI gRPC API (RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox) and calls
 * dpdk-cni from its CNI conf_dir as the pod's network (test/callers/containerd.ts). One containerd
 * of the test's own (scratch root, state and socket) serves the whole file; each test writes its
 * conflist and restarts it, since CRI reads the CNI configuration at start.
 */
describe.runIf(isRoot)('containerd CRI caller (root)', () => {
  let top: { path: string; cleanup: () => void };
  let node: SimNode;
  let ctd: Containerd;
  let net: NetFixture;
  let ipamDir: string;
  const pods: string[] = [];
  const PCI = '0000:5f:00.0';
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
  function kernelDevice(name: string): string {
    const vf = net.veth(name, { mac: MAC, mtu: 1500 });
    node.pci(PCI, { driver: 'iavf', device: '1889' });
    node.netdev(PCI, vf, { mac: MAC, mtu: 1500 });
    return vf;
  }
  const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet }]] });

  beforeAll(async () => {
    top = tempDir('dpdk-cni-ctd-');
    node = new SimNode(join(top.path, 'node'));
    ipamDir = join(top.path, 'ipam');
    ctd = new Containerd(join(top.path, 'containerd'), pluginDir(join(top.path, 'bin'), { root: node.root, plugins: ['host-local', 'tuning', 'loopback'] }));
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
    const vf = kernelDevice(`ck${net.id}`);
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
    expect(net.link(vf)).toMatchObject({ ifname: vf, address: MAC, mtu: 1500 });
    expect(attachments()).toEqual([]);
    expect(markers()).toEqual([]);
    expect(leases('ctdkern')).toEqual([]);
    await stopAndRemove(id);
    expect(podNetns()).toEqual([]);
  });
});
