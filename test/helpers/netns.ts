import { randomBytes } from 'node:crypto';
import { sh } from './cni.js';
import type { SimNode } from '../../src/sim/simnode.js';

/**
 * Real network namespaces and veth pairs for tests (root), named `<prefix>-<tag>-<id>-<n>` so that
 * parallel test files never collide; cleanup() removes all of them.
 */
export class NetFixture {
  /** the netns paths this fixture made, in order */
  readonly namespaces: string[] = [];
  /** the netns paths holding the parked peers of veth() */
  readonly parked: string[] = [];
  readonly links: string[] = [];

  constructor(
    readonly prefix = 'dcni',
    readonly id = randomBytes(3).toString('hex'),
  ) {}

  /** A new network namespace with lo up; returns its path, /run/netns/<name>. */
  netns(tag = 'pod'): string {
    const name = `${this.prefix}-${tag}-${this.id}-${this.namespaces.length}`;
    must('ip', ['netns', 'add', name]);
    must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    this.namespaces.push(`/run/netns/${name}`);
    return `/run/netns/${name}`;
  }

  /** A veth pair whose first end stays in the host as a "VF netdev"; the peer is parked in its own netns. */
  veth(name: string, opts: { mac?: string; mtu?: number; up?: boolean; peer?: string } = {}): string {
    const park = this.netns('park');
    this.parked.push(park);
    must('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', opts.peer ?? `p${name}`.slice(0, 15), 'netns', nsName(park)]);
    if (opts.mac) must('ip', ['link', 'set', 'dev', name, 'address', opts.mac]);
    if (opts.mtu) must('ip', ['link', 'set', 'dev', name, 'mtu', String(opts.mtu)]);
    if (opts.up) must('ip', ['link', 'set', 'dev', name, 'up']);
    this.links.push(name);
    return name;
  }

  link(name: string, netns?: string): any {
    const args = netns ? ['-n', nsName(netns)] : [];
    const r = sh('ip', [...args, '-j', '-d', 'addr', 'show', 'dev', name]);
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout)[0];
  }

  cleanup(): void {
    for (const l of this.links) sh('ip', ['link', 'del', l]);
    for (const n of this.namespaces) sh('ip', ['netns', 'del', nsName(n)]);
  }
}

/** The name of a netns from its /run/netns path. */
export function nsName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function must(cmd: string, args: string[]): void {
  const r = sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/**
 * A PF-less virtio-net PCI function of the simulated node (the e2e guest's kind of NIC) whose kernel
 * netdev, under `<pci>/virtio0/net/`, is a real veth end in the host: what kernel-netdev mode moves
 * into a pod. Returns the netdev name.
 */
export function virtioNic(node: SimNode, net: NetFixture, pci: string, name: string, opts: { mac: string; mtu?: number; up?: boolean; peer?: string }): string {
  const nic = net.veth(name, opts);
  node.pci(pci, { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
  node.netdev(pci, nic, { virtio: 0, mac: opts.mac });
  return nic;
}
