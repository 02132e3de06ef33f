import { randomBytes } from 'node:crypto';
import { sh } from './cni.js';

/** Real network namespaces and veth pairs for integration tests (root). */
export class NetFixture {
  readonly id = randomBytes(3).toString('hex');
  readonly namespaces: string[] = [];
  readonly links: string[] = [];

  netns(tag = 'pod'): string {
    const name = `dcni-${tag}-${this.id}-${this.namespaces.length}`;
    must('ip', ['netns', 'add', name]);
    must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    this.namespaces.push(name);
    return `/run/netns/${name}`;
  }

  /** A veth pair whose first end stays in the host as a "VF netdev"; the peer is parked in its own netns. */
  veth(name: string, opts: { mac?: string; mtu?: number } = {}): string {
    const park = this.netns('park');
    const parkName = park.split('/').pop() as string;
    must('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `p${name}`.slice(0, 15), 'netns', parkName]);
    if (opts.mac) must('ip', ['link', 'set', 'dev', name, 'address', opts.mac]);
    if (opts.mtu) must('ip', ['link', 'set', 'dev', name, 'mtu', String(opts.mtu)]);
    this.links.push(name);
    return name;
  }

  link(name: string, netns?: string): any {
    const args = netns ? ['-n', netns.split('/').pop() as string] : [];
    const r = sh('ip', [...args, '-j', '-d', 'addr', 'show', 'dev', name]);
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout)[0];
  }

  cleanup(): void {
    for (const l of this.links) sh('ip', ['link', 'del', l]);
    for (const n of this.namespaces) sh('ip', ['netns', 'del', n.split('/').pop() as string]);
  }
}

function must(cmd: string, args: string[]): void {
  const r = sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}
