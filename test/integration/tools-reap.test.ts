import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { lockName } from '../../src/sys/lock.js';
import { cni, CNI_PLUGINS, isRoot, sh, tempDir, TEST_BIN, type CniCall } from '../helpers/cni.js';
import { fakeIpPf } from '../helpers/fake-pf.js';
import { NetFixture, nsName, virtioNic } from '../helpers/netns.js';

/**
 * `dpdk-cni reap`: attachments whose pod netns is gone (the DEL that never came, as under Multus,
 * which never forwards CNI GC to additional networks) are released through DEL's release; live
 * ones are never touched. Simulated node, real netns; the test build's `ip` plays the PF's VF table
 * (test/helpers/fake-ip.mjs) as in dropin.test.ts.
 */
describe.runIf(isRoot)('dpdk-cni reap', () => {
  const PF = '0000:3b:00.0';
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let vfs: string[];
  let fake: string;
  let fakeEnv: ReturnType<typeof fakeIpPf>['env'];
  const holders: Server[] = [];
  const procs: ChildProcessWithoutNullStreams[] = [];
  const env = () => fakeEnv;
  const call = (c: Omit<CniCall, 'root'>) => cni({ ...c, root: node.root, bin: TEST_BIN, env: env() });
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  const vlanOf = (vf: number) => JSON.parse(readFileSync(fake, 'utf8')).ens1f0.vfinfo_list[vf].vlan_list[0].vlan ?? 0;
  const devinfo = (cid: string) => `/var/run/k8s.cni.cncf.io/devinfo/cni/reap-${cid}_net1`;
  const conf = (pci: string, cid: string, extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0', name: 'reap-net', type: 'dpdk-cni', deviceID: pci, vlan: 100,
    capabilities: { deviceID: true, CNIDeviceInfoFile: true }, runtimeConfig: { deviceID: pci, CNIDeviceInfoFile: devinfo(cid) },
    ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir: join(node.root, 'ipam') }, ...extra,
  });
  const reap = (args: string[] = []) => {
    const r = spawnSync(TEST_BIN, ['reap', ...args], { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: node.root, CNI_PATH: CNI_PLUGINS, ...env() }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, logs: r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) };
  };
  const released = (logs: any[]) => logs.filter((l) => /^reap: released/.test(l.msg));

  beforeEach(() => {
    dir = tempDir('dpdk-cni-reap-');
    node = new SimNode(dir.path);
    net = new NetFixture('rp');
    ({ vfs, fake, env: fakeEnv } = fakeIpPf(node, PF, { netdev: 'ens1f0', numVfs: 4, mtu: 9000 }));
  });
  afterEach(() => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
    for (const h of holders.splice(0)) h.close();
    net.cleanup();
    dir.cleanup();
  });

  it('releases a DPDK attachment whose netns is gone (VF settings, IPAM, device-info, state, marker) and leaves a live one alone', () => {
    const dead = net.netns('dead');
    const live = net.netns('live');
    const a = call({ command: 'ADD', conf: conf(vfs[1]!, 'deadpod'), containerId: 'deadpod', netns: dead });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = call({ command: 'ADD', conf: conf(vfs[2]!, 'livepod'), containerId: 'livepod', netns: live });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect([vlanOf(1), vlanOf(2)]).toEqual([100, 100]);
    expect(existsSync(join(node.root, devinfo('deadpod')))).toBe(true);
    const leases = () => ls(join(node.root, 'ipam/reap-net')).filter((f) => /^10\./.test(f));
    expect(leases()).toHaveLength(2);
    expect(sh('ip', ['netns', 'del', nsName(dead)]).code).toBe(0);

    const r = reap();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('dpdk-cni reap: released 1, failed 0, busy 0, not judged 0\n');
    // one JSON log line for the release, naming it
    expect(released(r.logs)).toEqual([expect.objectContaining({ level: 30, plugin: 'dpdk-cni', cmd: 'reap', net: 'reap-net', containerID: 'deadpod', ifname: 'net1', pci: vfs[1], mode: 'dpdk', netns: dead })]);
    expect(vlanOf(1)).toBe(0); // restored through the PF
    expect(existsSync(join(node.root, devinfo('deadpod')))).toBe(false);
    expect(leases()).toHaveLength(1);
    expect(ls(state('attachments'))).toEqual(['reap-net@livepod@net1.json']);
    expect(ls(state('devices'))).toEqual([`${vfs[2]}.json`]);
    // the live pod keeps everything
    expect(vlanOf(2)).toBe(100);
    expect(existsSync(join(node.root, devinfo('livepod')))).toBe(true);
    expect(call({ command: 'CHECK', conf: { ...conf(vfs[2]!, 'livepod'), prevResult: b.json }, containerId: 'livepod', netns: live }).code).toBe(0);

    // a second pass has nothing to do
    const again = reap();
    expect([again.code, again.stdout]).toEqual([0, 'dpdk-cni reap: released 0, failed 0, busy 0, not judged 0\n']);
  });

  it('a netdev attachment whose netns is gone: the netdev the kernel moved back gets its host name, MAC and MTU again', () => {
    const PCI = '0000:00:11.0';
    const MAC = '02:00:00:00:18:01';
    const ifname = `rq${net.id}`;
    const host = virtioNic(node, net, PCI, `rh${net.id}`, { mac: MAC, mtu: 1500 });
    const pod = net.netns('nd');
    const c = { cniVersion: '1.0.0', name: 'reap-nd', type: 'dpdk-cni', deviceID: PCI, mac: '02:11:22:33:44:55', mtu: 1400 };
    const add = call({ command: 'ADD', conf: c, netns: pod, ifname });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    // what the kernel does when a pod's netns dies: a physical netdev comes back under its pod name
    expect(sh('ip', ['-n', nsName(pod), 'link', 'set', ifname, 'netns', '1']).code).toBe(0);
    net.links.push(ifname);
    expect(sh('ip', ['netns', 'del', nsName(pod)]).code).toBe(0);

    const r = reap();
    expect(r.code, r.stderr).toBe(0);
    expect(released(r.logs)).toHaveLength(1);
    expect(net.link(host)).toMatchObject({ ifname: host, address: MAC, mtu: 1500 });
    expect(net.link(ifname)).toBeUndefined();
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });

  it('a device whose lock is busy is skipped (exit 0) and released by the next pass', async () => {
    const dead = net.netns('busy');
    expect(call({ command: 'ADD', conf: conf(vfs[1]!, 'busypod'), containerId: 'busypod', netns: dead }).code).toBe(0);
    expect(sh('ip', ['netns', 'del', nsName(dead)]).code).toBe(0);
    const s = createServer();
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.listen({ path: `\0${lockName(node.root, `pci/${vfs[1]}`)}` }, () => res());
    });
    holders.push(s);
    const r = reap(['--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).attachments).toEqual([expect.objectContaining({ containerID: 'busypod', status: 'busy' })]);
    expect(vlanOf(1)).toBe(100);
    expect(ls(state('attachments'))).toEqual(['reap-net@busypod@net1.json']);
    s.close();
    holders.splice(0);
    const next = reap();
    expect([next.code, next.stdout]).toEqual([0, 'dpdk-cni reap: released 1, failed 0, busy 0, not judged 0\n']);
    expect(vlanOf(1)).toBe(0);
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('a netns path it cannot judge (its directory does not receive the node\'s mounts) is left alone', () => {
    const live = net.netns('nj');
    expect(call({ command: 'ADD', conf: conf(vfs[1]!, 'njpod'), containerId: 'njpod', netns: live }).code).toBe(0);
    // as a reaper in a container without the node's /run/netns would see it: a missing path on a private mount
    const file = state('attachments', 'reap-net@njpod@net1.json');
    const st = JSON.parse(readFileSync(file, 'utf8'));
    st.netns = join(dir.path, 'netns', 'cni-0000');
    writeFileSync(file, JSON.stringify(st), { mode: 0o600 });
    const r = reap(['--json']);
    expect(r.code, r.stderr).toBe(0);
    const [o] = JSON.parse(r.stdout).attachments;
    expect(o).toMatchObject({ containerID: 'njpod', status: 'not-judged' });
    expect(o.reason).toContain('mountPropagation: HostToContainer');
    expect(vlanOf(1)).toBe(100);
    expect(ls(state('attachments'))).toEqual(['reap-net@njpod@net1.json']);
  });

  it('a release that fails exits 1 naming the attachment, keeps its state, and a later pass finishes it', () => {
    const dead = net.netns('fail');
    expect(call({ command: 'ADD', conf: conf(vfs[1]!, 'failpod'), containerId: 'failpod', netns: dead }).code).toBe(0);
    expect(sh('ip', ['netns', 'del', nsName(dead)]).code).toBe(0);
    const db = JSON.parse(readFileSync(fake, 'utf8'));
    writeFileSync(fake, JSON.stringify({ ...db, ens1f0: { ...db.ens1f0, refuse: ['vlan'] } }));
    const r = reap();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`dpdk-cni reap: 1 release(s) failed; their state is kept, run reap again (or DEL them): reap-net/failpod/net1 (${vfs[1]}): restoring VF settings`);
    expect(ls(state('attachments'))).toEqual(['reap-net@failpod@net1.json']);
    writeFileSync(fake, JSON.stringify({ ...db, ens1f0: { ...db.ens1f0, refuse: [] } }));
    expect(reap().code).toBe(0);
    expect(ls(state('attachments'))).toEqual([]);
    expect(vlanOf(1)).toBe(0);
  });

  it('--every runs a pass per period until SIGTERM, releasing what dies meanwhile, then exits 0', async () => {
    const p = spawn(TEST_BIN, ['reap', '--every', '0.2'], { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: node.root, CNI_PATH: CNI_PLUGINS, ...env() } });
    procs.push(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const until = async (f: () => boolean, what: string) => {
      for (let i = 0; i < 300 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(f(), `${what}\nstdout: ${out}\nstderr: ${err}`).toBe(true);
    };
    await until(() => out.split('\n').length > 2, 'two passes');
    const dead = net.netns('every');
    expect(call({ command: 'ADD', conf: conf(vfs[3]!, 'everypod'), containerId: 'everypod', netns: dead }).code).toBe(0);
    expect(sh('ip', ['netns', 'del', nsName(dead)]).code).toBe(0);
    await until(() => /released 1,/.test(out), 'a pass that released the pod');
    expect(ls(state('attachments'))).toEqual([]);
    expect(p.exitCode).toBeNull();
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => (p.exitCode !== null ? res(p.exitCode) : p.once('exit', (c) => res(c))));
    expect(code).toBe(0);
    expect(JSON.parse(err.trim().split('\n').at(-1)!)).toMatchObject({ msg: 'stopping', signal: 'SIGTERM' });
  });

  it('without iproute2\'s ip (an image that lacks it) a VF attachment is not released but reported failed, its state kept', async () => {
    const dead = net.netns('noip');
    expect(call({ command: 'ADD', conf: conf(vfs[1]!, 'noippod'), containerId: 'noippod', netns: dead }).code).toBe(0);
    expect(sh('ip', ['netns', 'del', nsName(dead)]).code).toBe(0);
    const { reapOnce } = await import('../../src/tools/reap/reap.js');
    const { makeHost } = await import('../../src/sys/host.js');
    const { nullLogger } = await import('../../src/log/logger.js');
    const host = { ...makeHost({ DPDK_CNI_ROOT: node.root }), tool: (n: string) => `/nonexistent/${n}` };
    const o = await reapOnce(host, nullLogger, { cniPath: [CNI_PLUGINS] });
    expect(o).toEqual([expect.objectContaining({ containerID: 'noippod', status: 'failed', reason: expect.stringContaining("/nonexistent/ip cannot be run: restoring VF settings and moving a netdev back need iproute2's ip") })]);
    expect(ls(state('attachments'))).toEqual(['reap-net@noippod@net1.json']);
    expect(vlanOf(1)).toBe(100);
  });

  it.each([['--every', '0'], ['--every', 'soon'], ['--every', '-1']])('refuses %s %s (exit 2), reaping nothing', (o, v) => {
    const r = reap([o, v]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--every must be a number of seconds from 0.1 to 86400');
  });
});
