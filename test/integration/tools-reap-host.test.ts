import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEVINFO_DIRS } from '../../src/config/paths.js';
import { SimNode } from '../../src/sim/simnode.js';
import { STATE_DIR } from '../../src/state/store.js';
import { BIN, cni, CNI_PLUGINS, isRoot, REPO, sh, tempDir } from '../helpers/cni.js';
import { loadYaml } from '../helpers/k8s.js';
import { NetFixture, nsName, virtioNic } from '../helpers/netns.js';

/**
 * What the reaper needs from the node, as install-daemonset.yaml gives it (docs/reference.md#the-reaper):
 * the capabilities releasing a netdev takes (CAP_NET_ADMIN, and nothing else), the netns
 * directory with the node's mounts propagated into it (HostToContainer), the state, device-info,
 * IPAM and CNI bin directories. Each is tried here by running the reaper without it.
 */
const reapContainer = () => {
  const ds = loadYaml(join(REPO, 'install-daemonset.yaml')).find((d) => d.obj.kind === 'DaemonSet')!.obj;
  return { pod: ds.spec.template.spec, c: ds.spec.template.spec.containers.find((x: any) => x.name === 'reap') };
};

describe('install-daemonset.yaml runs the reaper with what it needs, and no more', () => {
  it('beside the installer: reap --every, CAP_NET_ADMIN only, not privileged, read-only root, host network (the device locks are abstract sockets there)', () => {
    const { pod, c } = reapContainer();
    expect(pod.containers.map((x: any) => x.name)).toEqual(['install', 'reap']);
    expect(c.command).toEqual(['/usr/bin/dpdk-cni', 'reap', '--every', '60', '--cni-path', '/opt/cni/bin']);
    expect(c.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } });
    expect(pod.hostNetwork).toBe(true);
    expect(pod.hostPID).toBeUndefined();
    // the installer stays without any capability
    expect(pod.containers[0].securityContext.capabilities).toEqual({ drop: ['ALL'] });
  });

  it('mounts the state, device-info, IPAM lease, CNI bin and netns directories of the node at their own paths', () => {
    const { pod, c } = reapContainer();
    const hostPathOf = (vol: string) => pod.volumes.find((v: any) => v.name === vol).hostPath.path;
    const mounts = new Map<string, any>(c.volumeMounts.map((m: any) => [m.mountPath, { ...m, host: hostPathOf(m.name) }]));
    // the state directory and host-local's leases through their parent (a hostPath the kubelet makes is 0755; the state directory is 0700)
    expect(STATE_DIR.startsWith('/var/lib/cni/')).toBe(true);
    expect(mounts.get('/var/lib/cni')).toMatchObject({ host: '/var/lib/cni' });
    expect(mounts.get('/var/lib/cni').readOnly).toBeUndefined();
    for (const d of DEVINFO_DIRS) expect(mounts.get(d)).toMatchObject({ host: '/var/run/k8s.cni.cncf.io/devinfo' });
    expect(mounts.get('/opt/cni/bin')).toMatchObject({ host: '/opt/cni/bin', readOnly: true });
    for (const d of ['/run/netns', '/var/run/netns']) expect(mounts.get(d)).toMatchObject({ host: '/run/netns', mountPropagation: 'HostToContainer', readOnly: true });
  });
});

describe.runIf(isRoot)('the reaper under the DaemonSet\'s restrictions (root, real netns)', () => {
  const PCI = '0000:00:12.0';
  const MAC = '02:00:00:00:18:02';
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let host: string;
  let ifname: string;
  const state = (...p: string[]) => join(node.root, STATE_DIR, ...p);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  /** the reaper run through `wrap` (setpriv, unshare) */
  const reap = (wrap: string[]) => {
    const r = spawnSync(wrap[0]!, [...wrap.slice(1), BIN, 'reap'], { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: node.root, CNI_PATH: CNI_PLUGINS }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  /** a netdev attachment whose pod died: the kernel moved the netdev back under its pod name */
  function deadNetdevPod(): void {
    const pod = net.netns('hd');
    const add = cni({ command: 'ADD', conf: { cniVersion: '1.0.0', name: 'reap-host', type: 'dpdk-cni', deviceID: PCI, mac: '02:11:22:33:44:56', mtu: 1400 }, netns: pod, ifname, root: node.root });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(sh('ip', ['-n', nsName(pod), 'link', 'set', ifname, 'netns', '1']).code).toBe(0);
    net.links.push(ifname);
    expect(sh('ip', ['netns', 'del', nsName(pod)]).code).toBe(0);
  }
  const caps = (c: string) => ['setpriv', '--bounding-set', c, '--inh-caps', c, '--ambient-caps', c, '--'];

  beforeEach(() => {
    dir = tempDir('dpdk-cni-reap-host-');
    node = new SimNode(dir.path);
    net = new NetFixture('rh');
    ifname = `rk${net.id}`;
    host = virtioNic(node, net, PCI, `rg${net.id}`, { mac: MAC, mtu: 1500 });
  });
  afterEach(() => {
    net.cleanup();
    dir.cleanup();
  });

  it('CAP_NET_ADMIN alone is enough to give a netdev back its host name, MAC and MTU', () => {
    deadNetdevPod();
    const r = reap(caps('-all,+net_admin'));
    expect([r.code, r.stdout], r.stderr).toEqual([0, 'dpdk-cni reap: released 1, failed 0, busy 0, not judged 0\n']);
    expect(net.link(host)).toMatchObject({ ifname: host, address: MAC, mtu: 1500 });
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('without CAP_NET_ADMIN the release fails (exit 1) and the attachment is kept for the next pass', () => {
    deadNetdevPod();
    const r = reap(caps('-all'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`reap-host/c0ffee/${ifname} (${PCI}): moving ${ifname} back to the host`);
    expect(ls(state('attachments'))).toEqual([`reap-host@c0ffee@${ifname}.json`]);
    expect(net.link(ifname)).toBeDefined();
  });

  it('the netns directory must receive the node\'s mounts: private (no HostToContainer) → not judged; slave (HostToContainer) → released', () => {
    deadNetdevPod();
    const priv = reap(['unshare', '--mount', '--propagation', 'private', '--']);
    expect([priv.code, priv.stdout], priv.stderr).toEqual([0, 'dpdk-cni reap: released 0, failed 0, busy 0, not judged 1\n']);
    expect(priv.stderr).toContain('mountPropagation: HostToContainer');
    expect(ls(state('attachments'))).toHaveLength(1);
    const slave = reap(['unshare', '--mount', '--propagation', 'slave', '--']);
    expect([slave.code, slave.stdout], slave.stderr).toEqual([0, 'dpdk-cni reap: released 1, failed 0, busy 0, not judged 0\n']);
    expect(ls(state('attachments'))).toEqual([]);
  });
});
