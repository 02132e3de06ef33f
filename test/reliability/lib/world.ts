/**
 * One simulated node for a reliability scenario: a sysfs tree (src/sim/simnode.ts) under its own
 * root, real pod network namespaces, a veth end standing in for a kernel VF netdev, host-local IPAM
 * with its dataDir inside the root, and the Device-Info directory Multus uses. `snapshot()` records
 * everything a user would notice on the host; `diff()` lists what differs from a baseline.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SimNode } from '../../../src/sim/simnode.js';
import { deviceLockName } from '../../../src/sys/lock.js';
import { tmpNameFor } from '../../../src/net/netdev.js';
import { NetFixture, nsName, virtioNic } from '../../helpers/netns.js';

export const STATE = 'var/lib/cni/dpdk-cni';
export const DEVINFO = '/var/run/k8s.cni.cncf.io/devinfo/cni';

export function sh(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Base for temp roots: tmpfs when there is one (fsync-heavy runs stay fast), else /tmp. */
export function scratchBase(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
}

export interface LinkView {
  ifname: string;
  address: string;
  mtu: number;
  up: boolean;
}

function links(ns?: string): LinkView[] {
  const r = sh('ip', [...(ns ? ['-n', ns] : []), '-j', 'link', 'show']);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout || '[]') as Array<{ ifname: string; address: string; mtu: number; flags?: string[] }>).map((l) => ({
    ifname: l.ifname, address: l.address, mtu: l.mtu, up: (l.flags ?? []).includes('UP'),
  }));
}

/** Would a new ADD get the device lock at once? (bind the same abstract socket name) */
export function lockFree(root: string, pci: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ path: `\0${deviceLockName(root, pci)}` }, () => srv.close(() => resolve(true)));
  });
}

function walk(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...walk(p, base));
    else out.push(`${p.slice(base.length + 1)} (${(st.mode & 0o7777).toString(8)})`);
  }
  return out.sort();
}

export interface Snapshot {
  hostLinks: string[];
  pods: Record<string, string[]>;
  leases: string[];
  state: string[];
  devinfo: string[];
  locks: string[];
}

export type Mode = 'dpdk' | 'netdev';
let nextBus = 0;
const DOMAIN = ((process.pid % 0xfffe) + 1).toString(16).padStart(4, '0');

export class World {
  readonly id = randomBytes(3).toString('hex');
  readonly dir: string;
  readonly node: SimNode;
  readonly ipamDir: string;
  readonly pci: string;
  readonly vfName?: string;
  private readonly fixture = new NetFixture('rel', this.id);
  /** MACs and names this world's attachments may give the device (to spot it anywhere in the host) */
  readonly podMac: string;
  readonly origMac: string;

  constructor(readonly mode: Mode, readonly net = 'rel') {
    const m = this.id.match(/../g)!.join(':');
    this.podMac = `02:5e:${m}:01`;
    this.origMac = `02:5e:${m}:aa`;
    this.dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-rel-'));
    this.node = new SimNode(join(this.dir, 'node'));
    this.ipamDir = join(this.node.root, 'ipam');
    if (mode === 'dpdk') {
      // an SR-IOV VF on vfio-pci; no VF settings asked, so nothing needs the (simulated) PF in the kernel
      const vfs = this.node.sriovPf('0000:3b:00.0', { netdev: `pf${this.id}`, numVfs: 2, mtu: 9000 });
      this.pci = vfs[1] as string;
    } else {
      // a PF-less kernel NIC (virtio-net-pci) whose netdev is a real veth end in the host; an
      // address of its own (PCI domain from our pid, bus from a counter), because the temporary
      // name a netdev gets while it moves comes from the PCI address and every simulated node
      // here — and in any other test run on this machine — shares one kernel
      this.pci = `${DOMAIN}:${(0x10 + (nextBus++ % 0xe0)).toString(16)}:10.0`;
      this.vfName = virtioNic(this.node, this.fixture, this.pci, `rv${this.id}`, { peer: `rp${this.id}`, mac: this.origMac, mtu: 1500, up: true });
    }
  }

  get root(): string {
    return this.node.root;
  }

  /** A network namespace (name); its path is /run/netns/<name>. */
  netns(tag = 'pod'): string {
    return nsName(this.fixture.netns(tag));
  }

  /** The names of the pod network namespaces this world made (not those parking veth peers). */
  private pods(): string[] {
    return this.fixture.namespaces.filter((p) => !this.fixture.parked.includes(p)).map(nsName);
  }

  static path(ns: string): string {
    return `/run/netns/${ns}`;
  }

  alive(ns: string): boolean {
    return existsSync(World.path(ns));
  }

  /**
   * The pod's network namespace dies as it does on a node: the kernel hands physical netdevs back
   * to the host namespace (down, under the name they had in the pod; "devN" on a name clash),
   * virtual ones die with it. A veth stands in for a physical device here, so it is moved back
   * by hand first, which is exactly what the kernel would have done with a VF.
   */
  killNetns(ns: string): void {
    if (!this.alive(ns)) return;
    for (const l of links(ns)) {
      if (l.ifname === 'lo') continue;
      if (sh('ip', ['-n', ns, 'link', 'set', 'dev', l.ifname, 'netns', String(process.pid)]).code !== 0) {
        const alt = `dev${this.id}${Math.floor(Math.random() * 9)}`;
        sh('ip', ['-n', ns, 'link', 'set', 'dev', l.ifname, 'name', alt]);
        sh('ip', ['-n', ns, 'link', 'set', 'dev', alt, 'netns', String(process.pid)]);
      }
    }
    sh('ip', ['netns', 'del', ns]);
  }

  conf(extra: Record<string, unknown> = {}, ifname = 'net1', cid = 'c0ffee'): Record<string, unknown> {
    const c: Record<string, unknown> = {
      cniVersion: '1.1.0', name: this.net, type: 'dpdk-cni', deviceID: this.pci,
      ipam: { type: 'host-local', subnet: '10.123.0.0/24', dataDir: this.ipamDir },
      runtimeConfig: { CNIDeviceInfoFile: `${DEVINFO}/${this.net}-${cid}_${ifname}` },
      ...extra,
    };
    if (this.mode === 'netdev') Object.assign(c, { mac: this.podMac, mtu: 1400 }, extra);
    return c;
  }

  /** Names of host links that could be this world's device (original, temporary, pod names, our MACs). */
  private ours(l: LinkView, podNames: string[]): boolean {
    if (this.mode !== 'netdev') return false;
    return l.ifname === this.vfName || l.ifname === tmpNameFor(this.pci) || podNames.includes(l.ifname) || l.ifname.startsWith(`dev${this.id}`) ||
      l.address === this.podMac || l.address === this.origMac;
  }

  async snapshot(podNames: string[] = []): Promise<Snapshot> {
    const hostLinks = links()
      .filter((l) => this.ours(l, podNames))
      .map((l) => `${l.ifname} ${l.address} mtu ${l.mtu} ${l.up ? 'up' : 'down'} (host)`).sort();
    const pods: Record<string, string[]> = {};
    for (const ns of this.pods()) {
      if (!this.alive(ns)) continue;
      pods[ns] = links(ns).filter((l) => l.ifname !== 'lo').map((l) => `${l.ifname} ${l.address} mtu ${l.mtu} ${l.up ? 'up' : 'down'} (in ${ns})`);
    }
    const leaseDir = join(this.ipamDir, this.net);
    const leases = existsSync(leaseDir) ? readdirSync(leaseDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).map((f) => `lease ${f}`) : [];
    const state = walk(join(this.root, STATE)).map((f) => `state ${f}`);
    const devinfo = walk(join(this.root, '/var/run/k8s.cni.cncf.io')).map((f) => `devinfo ${f}`);
    const locks = (await lockFree(this.root, this.pci)) ? [] : [`lock pci/${this.pci} held`];
    return { hostLinks, pods, leases, state, devinfo, locks };
  }

  /** What differs from the baseline, one line per difference (empty = exactly as before). */
  static diff(base: Snapshot, now: Snapshot): string[] {
    const out: string[] = [];
    const cmp = (what: string, a: string[], b: string[]) => {
      for (const x of b) if (!a.includes(x)) out.push(`${what}: extra ${x}`);
      for (const x of a) if (!b.includes(x)) out.push(`${what}: missing ${x}`);
    };
    cmp('host link', base.hostLinks, now.hostLinks);
    for (const [ns, l] of Object.entries(now.pods)) cmp(`pod ${ns}`, base.pods[ns] ?? [], l);
    cmp('ipam', base.leases, now.leases);
    cmp('state', base.state, now.state);
    cmp('devinfo', base.devinfo, now.devinfo);
    cmp('lock', base.locks, now.locks);
    return out;
  }

  cleanup(): void {
    this.fixture.cleanup();
    for (const l of links()) if (l.ifname.startsWith(`dev${this.id}`) || l.address === this.podMac || l.address === this.origMac) sh('ip', ['link', 'del', l.ifname]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
