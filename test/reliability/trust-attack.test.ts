/**
 * Findings of a black-box attack session, each reproduced against the built executable on a
 * simulated node (src/sim/simnode.ts), as a runtime would run it:
 *
 * 1. a NAD naming dpdk-cni as its own IPAM plugin made it run itself without end (a process
 *    explosion that killing the top process did not stop);
 * 2. a result that could not be written (the caller gone: EPIPE; a full disk: ENOSPC) crashed with a
 *    Node stack trace and minified source on stderr, exit 7;
 * 3. known/<pci>.json (the MAC/MTU `bind` recorded) was copied unchecked into the CNI result;
 * 6. "names too long for a state file" always blamed the network name.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cniEnv } from './lib/inproc.js';
import { BIN, spawnCni, type ExecResult } from './lib/run.js';
import { scratchBase } from './lib/world.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const OTHER = '0000:00:07.0';
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;
/** Short bounds, so the old behaviour ends in seconds instead of 30-60 s per call. */
const FAST = { DPDK_CNI_IPAM_TIMEOUT_MS: '3000', DPDK_CNI_LOCK_TIMEOUT_MS: '1500' };

let dir: string;
let node: SimNode;
/** A root-owned 0755 directory holding copies of dpdk-cni (a safe CNI_PATH entry). */
let cnibin: string;

beforeEach(() => {
  dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-tatk-'));
  chmodSync(dir, 0o755);
  cnibin = join(dir, 'cnibin');
  mkdirSync(cnibin, { mode: 0o755 });
  chmodSync(cnibin, 0o755);
  node = new SimNode(join(dir, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  node.pci(OTHER, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(async () => {
  await stopCopies();
  rmSync(dir, { recursive: true, force: true });
});

/** Processes running one of this test's copies of dpdk-cni (started by this test only). */
function copies(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (cmd.includes(cnibin) && !/^\d+ \(.*\) Z/.test(stat)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}
/** Copies still running after the call returned (waits up to 3 s for them to end on their own). */
async function survivors(): Promise<number[]> {
  for (let i = 0; i < 30; i++) {
    if (copies().length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return copies();
}
/** Cleanup after the old behaviour: no more copies to start, then each running one killed by pid. */
async function stopCopies(): Promise<void> {
  rmSync(cnibin, { recursive: true, force: true });
  for (let round = 0; round < 50; round++) {
    const left = copies();
    if (left.length === 0) return;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function install(name: string): void {
  copyFileSync(BIN, join(cnibin, name));
  chmodSync(join(cnibin, name), 0o755);
}
const stateFiles = () => {
  const d = join(node.root, 'var/lib/cni/dpdk-cni/attachments');
  return existsSync(d) ? readdirSync(d) : [];
};
const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'rec', type: 'dpdk-cni', deviceID: OTHER, ...extra });
const run = (command: string, c: Record<string, unknown>, env: Record<string, string> = FAST, more: Record<string, string> = {}): Promise<ExecResult> =>
  spawnCni({ command, conf: c, netns: LIVE, root: node.root, path: cnibin, env: { ...env, ...more } }, 90_000);

function refused(r: ExecResult, code: number, ...parts: string[]): void {
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.json?.code, r.stdout + r.stderr).toBe(code);
  for (const p of parts) expect(r.json.msg).toContain(p);
  expect(r.stdout).not.toMatch(STACK);
}

describe('1. a NAD cannot make dpdk-cni run itself as its IPAM plugin', () => {
  it('DEL with "ipam":{"type":"dpdk-cni"} (dpdk-cni in CNI_PATH) succeeds at once and starts no copy of itself', async () => {
    install('dpdk-cni');
    const r = await run('DEL', conf({ ipam: { type: 'dpdk-cni' } }));
    expect([r.code, r.stdout], r.stderr).toEqual([0, '']);
    expect(r.ms).toBeLessThan(10_000);
    expect(await survivors()).toEqual([]);
    expect(r.stderr).toContain('cannot be its own IPAM plugin');
  });

  it('ADD, CHECK and STATUS with "ipam":{"type":"dpdk-cni"} are refused with 7 at once; GC succeeds; nothing is left', async () => {
    install('dpdk-cni');
    const c = conf({ ipam: { type: 'dpdk-cni' } });
    const add = await run('ADD', c);
    refused(add, 7, 'ipam.type', 'cannot be its own IPAM plugin');
    expect(add.ms).toBeLessThan(10_000);
    expect(stateFiles()).toEqual([]);
    refused(await run('CHECK', { ...c, prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'net1', sandbox: LIVE }] } }), 7, 'cannot be its own IPAM plugin');
    refused(await run('STATUS', c), 7, 'cannot be its own IPAM plugin');
    const gc = await run('GC', c);
    expect([gc.code, gc.stdout], gc.stderr).toEqual([0, '']);
    expect(await survivors()).toEqual([]);
  });

  it('a copy under another file name is refused by the copy itself: ADD fails with 106 in bounded time, the device is released, and DEL succeeds', async () => {
    install('myipam');
    const c = conf({ ipam: { type: 'myipam' } });
    const add = await run('ADD', c);
    refused(add, 106, 'IPAM plugin myipam ADD failed', 'cannot be its own IPAM plugin');
    expect(add.ms).toBeLessThan(10_000);
    expect(stateFiles()).toEqual([]);
    expect(await survivors()).toEqual([]);
    const del = await run('DEL', c);
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(del.ms).toBeLessThan(10_000);
    expect(await survivors()).toEqual([]);
    // the device is free for the next pod
    const again = await run('ADD', conf());
    expect(again.code, again.stdout).toBe(0);
  });

  it.each(['VERSION', 'ADD', 'DEL', 'GC'])('a dpdk-cni started by dpdk-cni as IPAM plugin (DPDK_CNI_IPAM_DEPTH set) refuses %s with 7 and touches nothing', async (command) => {
    const r = await run(command, conf(), { DPDK_CNI_IPAM_DEPTH: '1' });
    refused(r, 7, 'cannot be its own IPAM plugin');
    expect(r.json.cniVersion).toBe('1.1.0');
    expect(stateFiles()).toEqual([]);
    expect(existsSync(join(node.root, 'var/lib/cni/dpdk-cni/devices'))).toBe(false);
  });
});

/** Run the plugin with its stdout on `out` ('closed': a pipe whose reader is gone, EPIPE). */
function runTo(out: 'closed' | number, command: string, stdin: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const env = cniEnv({ command, netns: LIVE, root: node.root, path: cnibin });
    const p = spawn(BIN, [], { env, stdio: ['pipe', out === 'closed' ? 'pipe' : out, 'pipe'] });
    if (out === 'closed') p.stdout!.destroy(); // the caller is gone before the plugin answers
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    p.stdin!.on('error', () => undefined);
    p.on('close', (code) => resolve({ code, stderr }));
    p.stdin!.end(stdin);
  });
}

describe('2. a result that cannot be delivered: one clear log line, no stack trace, exit 1', () => {
  const cases: Array<[string, string, string]> = [
    ['VERSION', 'VERSION', '{}'],
    ['an ADD result', 'ADD', JSON.stringify(conf())],
    ['an error JSON (7)', 'ADD', JSON.stringify(conf({ vlan: 'x' }))],
  ];
  it.each(cases)('%s to a closed pipe (EPIPE)', async (_what, command, stdin) => {
    const r = await runTo('closed', command, stdin);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(STACK);
    expect(r.stderr).not.toContain('fatal');
    const lines = r.stderr.split('\n').filter((l) => l.includes('could not be delivered'));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain('EPIPE');
  });

  it.each(cases)('%s to /dev/full (ENOSPC)', async (_what, command, stdin) => {
    const fd = openSync('/dev/full', 'w');
    try {
      const r = await runTo(fd, command, stdin);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stderr).not.toContain('fatal');
      const lines = r.stderr.split('\n').filter((l) => l.includes('could not be delivered'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain('ENOSPC');
    } finally {
      closeSync(fd);
    }
  });

  it('an undelivered result goes to the NAD\'s logFile too, where the operator looks', async () => {
    const r = await runTo('closed', 'ADD', JSON.stringify(conf({ logFile: '/var/log/dpdk-cni.log' })));
    expect(r.code, r.stderr).toBe(1);
    const log = readFileSync(join(node.root, 'var/log/dpdk-cni.log'), 'utf8');
    const line = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).includes('could not be delivered'));
    expect(line, log).toMatchObject({ level: 50, cmd: 'ADD', net: 'rec' });
  });
});

