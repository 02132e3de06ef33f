/**
 * IPAM plugins that misbehave (issue #14.5) and CHECK with a chained prevResult (#14.6).
 *
 * The IPAM plugin is a program from CNI_PATH the plugin runs as root with the device lock held:
 * whatever it does — ignore SIGTERM, leave a child holding its stdout, print garbage or megabytes,
 * answer in a format we cannot use — ADD must end in bounded time with a clear error (106), kill
 * every process the plugin started, and release whatever it may have allocated (IPAM DEL).
 * The fake plugins below are small shell scripts in a root-owned 0755 CNI_PATH entry (the
 * CNI_PATH trust rules of docs/security.md); each records its invocations and the pids it starts.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CNI_PLUGINS } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { spawnCni, type ExecResult } from './lib/run.js';
import { scratchBase, sh, World } from './lib/world.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PCI = '0000:00:06.0';
const root = process.getuid?.() === 0;
/** Short bounds for the tests (the node admin's knob; production defaults are 60 s). */
const FAST = { DPDK_CNI_IPAM_TIMEOUT_MS: '1500' };
/** The old behaviour held ADD for 200 s and more; anything well under that proves the bound. */
const BOUND_MS = 60_000;

let dir: string;
let bin: string;
let node: SimNode;

beforeEach(() => {
  dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-tipam-'));
  bin = join(dir, 'bin');
  mkdirSync(bin, { mode: 0o755 });
  chmodSync(bin, 0o755);
  node = new SimNode(join(dir, 'node'));
  node.pci(PCI, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(() => {
  // whatever a failed assertion left running
  for (const pid of pids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').map((l) => l.split(' ')[0]) : []);
const pids = () => (existsSync(join(dir, 'pids')) ? readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').filter(Boolean).map(Number) : []);
const stateFiles = () => {
  const d = join(node.root, 'var/lib/cni/dpdk-cni/attachments');
  return existsSync(d) ? readdirSync(d) : [];
};
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is dead for our purpose (its parent has not reaped it yet)
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
/** Processes the fake plugin started that are still running (waits up to 10 s for reaping). */
async function survivors(): Promise<number[]> {
  for (let i = 0; i < 100; i++) {
    const left = pids().filter(alive);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids().filter(alive);
}

/**
 * A fake IPAM plugin `fake`: records "<command> <pid>" in calls, answers VERSION, and runs `add`
 * for ADD (DEL, CHECK... succeed). `$PIDS` is where the script writes the pids it starts.
 */
function plugin(add: string, name = 'fake'): void {
  const f = join(bin, name);
  writeFileSync(
    f,
    `#!/bin/sh
PIDS='${join(dir, 'pids')}'
echo "$CNI_COMMAND $$" >> '${join(dir, 'calls')}'
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}' ;;
ADD) echo $$ >> "$PIDS"
${add}
;;
esac
exit 0
`,
  );
  chmodSync(f, 0o755);
}
const GOOD = `'{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.5/24","gateway":"10.77.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}'`;

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'tipam', type: 'dpdk-cni', deviceID: PCI, ipam: { type: 'fake' }, ...extra });
const add = (env: Record<string, string> = FAST): Promise<ExecResult> =>
  spawnCni({ command: 'ADD', conf: conf(), netns: LIVE, root: node.root, path: bin, env }, 120_000);

function failedWith106(r: ExecResult, ...parts: string[]): void {
  expect(r.signal, r.stderr).toBeNull();
  expect(r.json?.code, r.stdout + r.stderr).toBe(106);
  for (const p of parts) expect(r.json.msg).toContain(p);
  expect(r.stdout).not.toMatch(/\n\s+at /); // no stack trace
  expect(stateFiles()).toEqual([]);
}

describe('an IPAM plugin that will not end', () => {
  it('ignoring SIGTERM (itself and its child): ADD fails with 106 in bounded time, the whole process group is killed, IPAM DEL runs', async () => {
    plugin(`trap '' TERM
sleep 300 &
echo $! >> "$PIDS"
wait; wait; wait`);
    const r = await add();
    failedWith106(r, 'IPAM plugin fake ADD', 'did not finish within 1500 ms', 'DPDK_CNI_IPAM_TIMEOUT_MS');
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(await survivors()).toEqual([]);
    expect(calls()).toEqual(['ADD', 'DEL']);
  });

  it('exiting 0 with its answer while a background child keeps stdout open: ADD succeeds at once with the answer and the child is killed', async () => {
    plugin(`echo ${GOOD}
sleep 300 &
echo $! >> "$PIDS"`);
    // the default timeout (60 s): the answer must not wait for it
    const r = await add({});
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.ips).toEqual([{ interface: 0, address: '10.77.0.5/24', gateway: '10.77.0.1' }]);
    expect(r.ms).toBeLessThan(30_000);
    expect(await survivors()).toEqual([]);
    expect(calls()).toEqual(['ADD']);
    expect(stateFiles()).toEqual(['tipam@c0ffee@net1.json']);
  });

  it('timing out after it allocated: ADD fails with 106 and the allocation is released (IPAM DEL)', async () => {
    plugin(`sleep 300 &
echo $! >> "$PIDS"
wait`);
    const r = await add();
    failedWith106(r, 'did not finish within 1500 ms');
    expect(await survivors()).toEqual([]);
    expect(calls()).toEqual(['ADD', 'DEL']);
  });
});

describe('an IPAM answer that cannot be used: 106, and what IPAM allocated is released', () => {
  it('garbage on stdout with exit 0', async () => {
    plugin(`echo 'allocated 10.77.0.5, have a nice day'`);
    const r = await add();
    failedWith106(r, 'IPAM plugin fake', 'not JSON');
    expect(calls()).toEqual(['ADD', 'DEL']);
  });

  it('an answer larger than the output cap (1 MiB) is cut off, the plugin killed, and released', async () => {
    plugin(`printf '{"cniVersion":"1.1.0","ips":[],"pad":"'
head -c 4000000 /dev/zero | tr '\\000' 'x'
echo '"}'`);
    const r = await add();
    failedWith106(r, 'more than 1048576 bytes');
    expect(await survivors()).toEqual([]);
    expect(calls()).toEqual(['ADD', 'DEL']);
  });

  it('a 0.2.0 result (ip4) is refused instead of an ADD that succeeds without addresses', async () => {
    plugin(`echo '{"cniVersion":"0.2.0","ip4":{"ip":"10.77.0.5/24","gateway":"10.77.0.1"}}'`);
    const r = await add();
    failedWith106(r, '0.2.0', 'ip4');
    expect(calls()).toEqual(['ADD', 'DEL']);
  });

  it.each([
    ['ips[0].address', `{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.500/24"}]}`, '"10.77.0.500/24"'],
    ['ips[0].address', `{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.5"}]}`, '"10.77.0.5"'],
    ['ips[0].address', `{"cniVersion":"1.1.0","ips":[{"address":"fd00::5/129"}]}`, '"fd00::5/129"'],
    ['ips[0].gateway', `{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.5/24","gateway":"; reboot"}]}`, '"; reboot"'],
    ['ips[1].address', `{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.5/24"},{"address":"${'a'.repeat(500)}"}]}`, `"${'a'.repeat(76)}...`],
    ['routes[0].dst', `{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.5/24"}],"routes":[{"dst":"default"}]}`, '"default"'],
    ['routes[0].gw', `{"cniVersion":"1.1.0","ips":[{"address":"10.77.0.5/24"}],"routes":[{"dst":"0.0.0.0/0","gw":"10.77.0.1/24"}]}`, '"10.77.0.1/24"'],
  ])('%s that is not an IP (answer %#)', async (field, answer, quoted) => {
    plugin(`echo '${answer}'`);
    const r = await add();
    failedWith106(r, field, quoted);
    expect(r.json.msg.length).toBeLessThan(400); // at most 80 characters of the bad value
    expect(calls()).toEqual(['ADD', 'DEL']);
  });

  it('a plugin that fails cleanly is asked to DEL too (it may have allocated before failing)', async () => {
    plugin(`echo '{"cniVersion":"1.1.0","code":11,"msg":"no more addresses"}'; exit 1`);
    const r = await add();
    failedWith106(r, 'no more addresses');
    expect(calls()).toEqual(['ADD', 'DEL']);
  });

  it('a plugin that refuses ADD and DEL alike (a bad ipam config) leaves nothing behind: ADD 106, DEL 0', async () => {
    plugin(`echo '{"cniVersion":"1.1.0","code":7,"msg":"invalid subnet"}'; exit 1`);
    const f = join(bin, 'fake');
    writeFileSync(f, readFileSync(f, 'utf8').replace('VERSION)', `DEL) echo '{"cniVersion":"1.1.0","code":7,"msg":"invalid subnet"}'; exit 1 ;;\nVERSION)`));
    const r = await add();
    failedWith106(r, 'invalid subnet');
    expect(r.json.msg).not.toContain('rollback incomplete');
    expect(calls()).toEqual(['ADD', 'DEL']);
    const d = await spawnCni({ command: 'DEL', conf: conf(), netns: LIVE, root: node.root, path: bin, env: FAST }, 60_000);
    expect([d.code, d.stdout], d.stderr).toEqual([0, '']);
  });

  it('a plugin that times out on ADD and on the rollback\'s DEL: the state is kept and a later DEL releases', async () => {
    plugin(`sleep 300 &
echo $! >> "$PIDS"
wait`);
    const f = join(bin, 'fake');
    const good = readFileSync(f, 'utf8');
    writeFileSync(f, good.replace('VERSION)', `DEL) sleep 300 & echo $! >> "$PIDS"; wait ;;\nVERSION)`));
    const r = await add();
    expect(r.json?.code, r.stdout).toBe(106);
    expect(r.json.msg).toContain('did not finish within 1500 ms');
    expect(r.json.msg).toContain('rollback incomplete, DEL will retry');
    expect(stateFiles()).toEqual(['tipam@c0ffee@net1.json']);
    expect(await survivors()).toEqual([]);
    writeFileSync(f, good);
    const d = await spawnCni({ command: 'DEL', conf: conf(), netns: LIVE, root: node.root, path: bin, env: FAST }, 60_000);
    expect([d.code, d.stdout], d.stderr).toEqual([0, '']);
    expect(stateFiles()).toEqual([]);
    expect(calls()).toEqual(['ADD', 'DEL', 'DEL']);
  });

  it('a valid answer is taken as it is (precondition of the cases above)', async () => {
    plugin(`echo ${GOOD}`);
    const r = await add();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.ips).toEqual([{ interface: 0, address: '10.77.0.5/24', gateway: '10.77.0.1' }]);
    expect(r.json.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(calls()).toEqual(['ADD']);
  });

  it('a plugin that is not found is not asked to DEL (nothing was started)', async () => {
    const r = await spawnCni({ command: 'ADD', conf: conf({ ipam: { type: 'nonexistent' } }), netns: LIVE, root: node.root, path: bin, env: FAST }, 60_000);
    failedWith106(r, 'not found in CNI_PATH');
    expect(calls()).toEqual([]);
  });
});

describe('IPAM DEL, CHECK, GC and STATUS are bounded too', () => {
  it('a DEL that hangs ignoring SIGTERM fails with 11 in bounded time and keeps the state for a retry; no process is left', async () => {
    plugin(`echo ${GOOD}`);
    expect((await add()).code).toBe(0);
    // the plugin now hangs on DEL
    const f = join(bin, 'fake');
    writeFileSync(f, readFileSync(f, 'utf8').replace('VERSION)', `DEL) echo $$ >> "$PIDS"; trap '' TERM; sleep 300 & echo $! >> "$PIDS"; wait; wait ;;\nVERSION)`));
    const d = await spawnCni({ command: 'DEL', conf: conf(), netns: LIVE, root: node.root, path: bin, env: FAST }, 120_000);
    expect(d.signal, d.stderr).toBeNull();
    expect(d.json?.code, d.stdout).toBe(11);
    expect(d.json.msg).toContain('did not finish within 1500 ms');
    expect(d.ms).toBeLessThan(BOUND_MS);
    expect(await survivors()).toEqual([]);
    expect(stateFiles()).toEqual(['tipam@c0ffee@net1.json']);
  });
});

describe.runIf(root)('CHECK with a chained prevResult (issue #14.6)', () => {
  let w: World;
  beforeEach(() => {
    w = new World('netdev', 'tipamchk');
  });
  afterEach(() => w.cleanup());

  it('an address of an earlier plugin without an interface index does not make CHECK fail its own ADD\'s result', async () => {
    const ns = w.netns('pod');
    // the spec makes ips[].interface optional: an earlier plugin in the chain may leave it out
    const prevResult = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', sandbox: World.path(ns) }],
      ips: [{ address: '10.99.0.7/24', gateway: '10.99.0.1' }],
    };
    const c = { ...w.conf({ ipam: { type: 'host-local', subnet: '10.124.0.0/24', dataDir: w.ipamDir } }), prevResult };
    const a = await spawnCni({ command: 'ADD', conf: c, netns: World.path(ns), root: w.root, path: CNI_PLUGINS });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.json.ips).toEqual([{ address: '10.99.0.7/24', gateway: '10.99.0.1' }, { interface: 1, address: '10.124.0.2/24', gateway: '10.124.0.1' }]);
    const chk = await spawnCni({ command: 'CHECK', conf: { ...c, prevResult: a.json }, netns: World.path(ns), root: w.root, path: CNI_PLUGINS });
    expect([chk.code, chk.stdout], chk.stderr).toEqual([0, '']);
    // CHECK still verifies our own addresses
    expect(sh('ip', ['-n', ns, 'addr', 'del', '10.124.0.2/24', 'dev', 'net1']).code).toBe(0);
    const bad = await spawnCni({ command: 'CHECK', conf: { ...c, prevResult: a.json }, netns: World.path(ns), root: w.root, path: CNI_PLUGINS });
    expect(bad.json?.code, bad.stdout).toBe(108);
    expect(bad.json.msg).toContain('lacks address 10.124.0.2/24');
    expect(bad.json.msg).not.toContain('10.99.0.7');
    const d = await spawnCni({ command: 'DEL', conf: c, netns: World.path(ns), root: w.root, path: CNI_PLUGINS });
    expect(d.code, d.stdout).toBe(0);
  });
});
