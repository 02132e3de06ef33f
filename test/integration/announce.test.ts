import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cniAsync, isRoot, sh, tempDir, type CniCall } from '../helpers/cni.js';
import { NetFixture, nsName, virtioNic } from '../helpers/netns.js';

/**
 * Address announcement on the wire (kernel modes): the host-side peer of the veth that stands in
 * for the VF's netdev is where the pod's neighbours are; a listener there must see a gratuitous ARP
 * for the pod's IPv4 address and an unsolicited neighbour advertisement for its IPv6 address, both
 * from the pod's MAC, right after ADD, so a reused IP's new MAC is learned at once.
 */
const haveTcpdump = sh('sh', ['-c', 'command -v tcpdump']).code === 0;

describe.runIf(isRoot && haveTcpdump)('address announcement after ADD (root, tcpdump)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let pod: string;
  let vfname: string;
  let park: string;
  let dump: ChildProcess | undefined;
  const PCI = '0000:00:12.0';
  const MAC = '02:5a:11:22:33:44';

  beforeEach(() => {
    dir = tempDir();
    node = new SimNode(dir.path);
    net = new NetFixture();
    pod = net.netns('anp');
    vfname = virtioNic(node, net, PCI, `an${net.id}`, { mac: '02:00:00:00:12:01', mtu: 1500, up: true });
    park = nsName(net.parked[0]!);
    sh('ip', ['-n', park, 'link', 'set', `p${vfname}`.slice(0, 15), 'up']);
  });
  afterEach(() => {
    dump?.kill('SIGKILL');
    net.cleanup();
    dir.cleanup();
  });

  /** tcpdump on the parked peer, line-buffered; resolves once it is capturing. */
  function listen(): Promise<{ lines: () => string }> {
    return new Promise((resolve, reject) => {
      let out = '';
      const p = spawn('ip', ['netns', 'exec', park, 'tcpdump', '-i', `p${vfname}`.slice(0, 15), '-nn', '-e', '-l', 'arp or icmp6'], { stdio: ['ignore', 'pipe', 'pipe'] });
      dump = p;
      p.stdout!.on('data', (d) => (out += d));
      p.stderr!.on('data', (d) => {
        if (String(d).includes('listening on')) resolve({ lines: () => out });
      });
      p.on('error', reject);
      p.on('exit', (code) => reject(new Error(`tcpdump exited ${code}`)));
    });
  }

  const waitFor = async (f: () => boolean, ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end && !f(); ) await new Promise((r) => setTimeout(r, 100));
  };
  const sysctl = (path: string) => sh('ip', ['netns', 'exec', pod.split('/').pop()!, 'cat', path]).stdout.trim();

  it('a gratuitous ARP per IPv4 address and an unsolicited NA per IPv6 address, from the pod MAC; arp_notify and ndisc_notify are 1 in the pod', async () => {
    const cap = await listen();
    const conf = {
      cniVersion: '1.0.0', name: 'announce', type: 'dpdk-cni', deviceID: PCI, mac: MAC,
      ipam: { type: 'host-local', dataDir: join(dir.path, 'ipam'), ranges: [[{ subnet: '10.86.0.0/24' }], [{ subnet: 'fd00:86::/64' }]] },
    };
    const call: CniCall = { command: 'ADD', conf, netns: pod, root: node.root };
    const add = await cniAsync(call);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const [v4, v6] = (add.json.ips as Array<{ address: string }>).map((i) => i.address.split('/')[0] ?? '');
    expect(v4).toBe('10.86.0.2');
    expect(v6).toBe('fd00:86::2');
    const ip4 = (v4 ?? '').replace(/\./g, '\\.');
    const garp = new RegExp(`^.*${MAC} > ff:ff:ff:ff:ff:ff, ethertype ARP.*(Request who-has ${ip4} tell ${ip4}|Reply ${ip4} is-at ${MAC})`, 'm');
    const na = new RegExp(`^.*${MAC} > 33:33:00:00:00:01, ethertype IPv6.*neighbor advertisement, tgt is ${v6}`, 'm');
    // the NA follows duplicate address detection (about a second after the link is up)
    await waitFor(() => garp.test(cap.lines()) && na.test(cap.lines()), 8000);
    expect(cap.lines()).toMatch(garp);
    expect(cap.lines()).toMatch(na);
    expect(sysctl('/proc/sys/net/ipv4/conf/net1/arp_notify')).toBe('1');
    expect(sysctl('/proc/sys/net/ipv6/conf/net1/ndisc_notify')).toBe('1');
    // the pod's defaults are not changed: only its interface's
    expect(sysctl('/proc/sys/net/ipv4/conf/default/arp_notify')).toBe('0');
  }, 30_000);
});
