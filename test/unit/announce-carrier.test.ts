import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { moveIn } from '../../src/net/netdev.js';
import { announceAfterCarrier } from '../../src/net/announce.js';
import { execSync, type Exec } from '../../src/sys/exec.js';
import { makeHost } from '../../src/sys/host.js';

// A link set up before its carrier came sends its gratuitous ARPs into nothing (the kernel drops
// frames of a device without carrier): ADD waits for the carrier (200 ms at most, as sriov-cni)
// and makes the kernel announce again by setting the same MAC.

const st = { hostName: 'ens1f0v1', tmpName: 'dcni0123456789', podName: 'net1', origMac: '02:00:00:00:00:01', mac: '02:00:00:00:00:07', origMtu: 1500, mtu: 1500, wasUp: true };

function recorder(flags: string[]) {
  const calls: { file: string; args: string[]; input?: string }[] = [];
  const exec: Exec = (file, args, opts) => {
    calls.push({ file, args: [...args], input: opts?.input });
    // the pod-side batch ends with `link show dev net1` (-j): answer it with these flags
    const out = opts?.input?.includes('link show dev net1') ? JSON.stringify([{ ifname: 'net1', ifindex: 7, address: st.mac, mtu: 1500, flags }]) : '';
    return { code: 0, stdout: out, stderr: '' };
  };
  return { host: { ...makeHost({}), exec, tool: (n: string) => `/usr/sbin/${n}` }, calls };
}

describe('announcing again after a late carrier', () => {
  it('a link up without carrier after the pod-side batch: one more process in the pod waits for it and re-announces', () => {
    const { host, calls } = recorder(['BROADCAST', 'MULTICAST', 'UP']);
    moveIn(host, st, '/run/netns/pod', [{ address: '10.1.0.5/24' }], []);
    expect(calls).toHaveLength(3);
    expect(calls[2]!.args.slice(0, 3)).toEqual(['--net=/run/netns/pod', '/usr/sbin/sh', '-c']);
    expect(calls[2]!.args.slice(4)).toEqual(['sh', 'net1', '02:00:00:00:00:07', '/usr/sbin/ip']);
  });

  it('a link with carrier (LOWER_UP): nothing more runs (the kernel announced on NETDEV_UP)', () => {
    const { host, calls } = recorder(['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP']);
    moveIn(host, st, '/run/netns/pod', [{ address: '10.1.0.5/24' }], []);
    expect(calls).toHaveLength(2);
  });

  it('no addresses to announce: nothing more runs', () => {
    const { host, calls } = recorder(['UP']);
    moveIn(host, st, '/run/netns/pod', [], []);
    expect(calls).toHaveLength(2);
  });
});

describe('the wait-and-announce program (run for real, with an ip that reports carrier on its 3rd look)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dcni-carrier-'));
    // nsenter stand-in: drop --net=..., run the rest
    writeFileSync(join(dir, 'nsenter'), '#!/bin/sh\nshift\nexec "$@"\n');
    writeFileSync(join(dir, 'ip'), `#!/bin/sh
echo "$*" >> ${dir}/calls
n=$(wc -l < ${dir}/calls)
case "$*" in
  "-o link show dev net1") if [ "$n" -ge "\${LATE:-3}" ]; then echo "7: net1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"; else echo "7: net1: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500"; fi ;;
esac
`);
    chmodSync(join(dir, 'nsenter'), 0o755);
    chmodSync(join(dir, 'ip'), 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const host = (late: number) => ({ ...makeHost({ LATE: String(late) }), exec: ((f, a, o) => execSync(f, a, { ...o, env: { ...process.env, LATE: String(late) } })) as Exec, tool: (n: string) => (n === 'sh' ? '/bin/sh' : join(dir, n)) });
  const calls = () => readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');

  it('the carrier comes on the 3rd look: the same MAC is set once, which makes the kernel announce', () => {
    announceAfterCarrier(host(3), '/run/netns/pod', 'net1', '02:00:00:00:00:07');
    expect(calls()).toEqual(['-o link show dev net1', '-o link show dev net1', '-o link show dev net1', 'link set dev net1 address 02:00:00:00:00:07']);
  });

  it('no carrier within the wait: it gives up (best-effort) without setting anything', () => {
    announceAfterCarrier(host(1000), '/run/netns/pod', 'net1', '02:00:00:00:00:07');
    expect(calls()).toHaveLength(10);
    expect(calls().every((c) => c === '-o link show dev net1')).toBe(true);
  });
});
