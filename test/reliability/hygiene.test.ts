/**
 * Part 5 — resource hygiene: the modes of everything the plugin creates (under the umasks a runtime
 * may run it with), temp files of the atomic writer after killed writes (they must not accumulate),
 * log growth and rotation (we append, opening the file O_APPEND per call), and no descriptor, child
 * process or handle leak over a long in-process loop of runCni().
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { CNI_PLUGINS } from '../helpers/cni.js';
import { deviceLockName } from '../../src/sys/lock.js';
import { inproc } from './lib/inproc.js';
import { report, type Row } from './lib/report.js';
import { BIN, spawnCni, spawnRaw, TEST_BIN } from './lib/run.js';
import { cniEnv } from './lib/inproc.js';
import { scratchBase } from './lib/world.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const DI = '/var/run/k8s.cni.cncf.io/devinfo/cni';
const rows: Row[] = [];

let dir: string;
let node: SimNode;
let vfs: string[];
beforeEach(() => {
  dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-hyg-'));
  node = new SimNode(join(dir, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  vfs = node.sriovPf('0000:3b:00.0', { netdev: `hy${process.pid}`.slice(0, 15), numVfs: 24, mtu: 9000 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const at = (...p: string[]) => join(node.root, ...p);
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, '0');
const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'hyg', type: 'dpdk-cni', deviceID: PFLESS, ...extra });
function tmpFiles(d: string): string[] {
  if (!existsSync(d)) return [];
  return readdirSync(d, { recursive: true }).map(String).filter((f) => f.split('/').pop()!.endsWith('.tmp'));
}

describe('file modes of everything the plugin creates', () => {
  it.each(['022', '000', '077'])('under umask %s: state dirs 0700, state files 0600, device-info 0444, log 0600', async (umask) => {
    const wrapper = join(dir, 'umask.sh');
    writeFileSync(wrapper, `#!/bin/sh\numask ${umask}\nexec ${BIN}\n`, { mode: 0o755 });
    const c = conf({ logFile: '/var/log/dpdk-cni/cni.log', ipam: { type: 'host-local', subnet: '10.231.0.0/24', dataDir: at('ipam') }, runtimeConfig: { CNIDeviceInfoFile: `${DI}/hyg-c0ffee_net1` } });
    const r = await spawnRaw(wrapper, cniEnv({ command: 'ADD', netns: LIVE, root: node.root }), JSON.stringify(c));
    expect(r.code, r.stdout).toBe(0);
    const want: Array<[string, string, string]> = [
      ['var/lib/cni/dpdk-cni', '0700', 'state directory'],
      ['var/lib/cni/dpdk-cni/attachments', '0700', 'attachments directory'],
      ['var/lib/cni/dpdk-cni/devices', '0700', 'markers directory'],
      ['var/lib/cni/dpdk-cni/attachments/hyg@c0ffee@net1.json', '0600', 'attachment state'],
      [`var/lib/cni/dpdk-cni/devices/${PFLESS}.json`, '0600', 'allocation marker'],
      [`${DI}/hyg-c0ffee_net1`, '0444', 'device-info file'],
      ['var/log/dpdk-cni/cni.log', '0600', 'log file'],
    ];
    for (const [p, m, what] of want) {
      expect(mode(at(p)), `${what} ${p} under umask ${umask}`).toBe(m);
      rows.push({ check: `mode of the ${what}`, umask, expected: m, measured: mode(at(p)) });
    }
    // created parent directories: 0755 less the umask (readable by Multus, which runs as root anyway)
    const di = mode(at(DI));
    expect(di).toBe((0o755 & ~Number.parseInt(umask, 8)).toString(8).padStart(4, '0'));
    rows.push({ check: 'mode of created device-info/log directories', umask, expected: '0755 & ~umask', measured: di });
    expect(tmpFiles(at('var'))).toEqual([]);
  });
});

describe('temp files of the atomic writer', () => {
  it('killed writes leave at most one temp file per state file; the same attachment\'s DEL or one GC removes them', async () => {
    // every atomic write of ADD in turn: state "adding", marker, device-info, state "added"
    const steps = ['fs:tmp-written#1', 'fs:tmp-written#2', 'fs:tmp-written#3', 'fs:tmp-written#4'];
    let crashed = 0;
    let most = 0;
    for (const [i, vf] of vfs.slice(0, 20).entries()) {
      const c = conf({ deviceID: vf, runtimeConfig: { CNIDeviceInfoFile: `${DI}/hyg-p${i}_net1` } });
      const r = await spawnCni({ command: 'ADD', conf: c, containerId: `p${i}`, netns: LIVE, root: node.root, bin: TEST_BIN, env: { DPDK_CNI_TEST_CRASH_AT: steps[i % 4]! } });
      if (r.signal === 'SIGKILL') crashed++;
      const n = tmpFiles(at('var')).length;
      expect(n, `after killed write ${i + 1}`).toBe(Math.min(i + 1, 4)); // one per killed write; each DEL below removes its own
      most = Math.max(most, n);
      if (i >= 3) {
        // the runtime's DEL for an attachment whose ADD was killed four calls ago clears its leftovers
        const j = i - 3;
        const d = await spawnCni({ command: 'DEL', conf: conf({ deviceID: vfs[j], runtimeConfig: { CNIDeviceInfoFile: `${DI}/hyg-p${j}_net1` } }), containerId: `p${j}`, netns: LIVE, root: node.root });
        expect(d.code, d.stdout).toBe(0);
      }
    }
    expect(crashed).toBe(20);
    expect(most).toBeLessThanOrEqual(4);
    const gc = await spawnCni({ command: 'GC', conf: { ...conf(), 'cni.dev/valid-attachments': [] }, root: node.root });
    expect(gc.code, gc.stdout).toBe(0);
    expect(tmpFiles(at('var'))).toEqual([]);
    expect(readdirSync(at('var/lib/cni/dpdk-cni/attachments'))).toEqual([]);
    expect(readdirSync(at('var/lib/cni/dpdk-cni/devices'))).toEqual([]);
    rows.push({ check: 'temp files present at once over 20 killed writes (DEL after each); after one GC', umask: '', expected: '<= 4; 0', measured: `${most}; ${tmpFiles(at('var')).length}` });
  });

  it('ADD and DEL never scan the state directories (cost flat in the number of attachments); GC sweeps leftovers it can prove dead', async () => {
    const d = at('var/lib/cni/dpdk-cni/devices');
    await spawnCni({ command: 'ADD', conf: conf(), netns: LIVE, root: node.root });
    const old = Date.now() / 1000 - 2 * 60;
    const strays: Record<string, { mtime?: number; afterGc: boolean }> = {
      [`.${vfs[7]}.json.tmp`]: { afterGc: false }, // a killed marker write: its device's lock is free
      '.x.json.4026531836-999999999.1.tmp': { mtime: old, afterGc: false }, // unknown device, 2 min old
      '.y.json.tmp': { afterGc: true }, // unknown device, fresh: could belong to a live writer
    };
    for (const [f, o] of Object.entries(strays)) {
      writeFileSync(join(d, f), 'x');
      if (o.mtime) utimesSync(join(d, f), o.mtime, o.mtime);
    }
    const other = await spawnCni({ command: 'ADD', conf: conf({ deviceID: vfs[5] }), containerId: 'other', netns: LIVE, root: node.root });
    expect(other.code, other.stdout).toBe(0);
    const del = await spawnCni({ command: 'DEL', conf: conf(), netns: LIVE, root: node.root });
    expect(del.code).toBe(0);
    for (const f of Object.keys(strays)) expect(existsSync(join(d, f)), `${f} untouched by ADD/DEL of other files`).toBe(true);
    const gc = await spawnCni({ command: 'GC', conf: { ...conf(), 'cni.dev/valid-attachments': [{ containerID: 'other', ifname: 'net1' }] }, root: node.root });
    expect(gc.code, gc.stdout).toBe(0);
    for (const [f, o] of Object.entries(strays)) expect(existsSync(join(d, f)), `${f} after GC`).toBe(o.afterGc);
    expect(readdirSync(d).filter((f) => !f.startsWith('.'))).toEqual([`${vfs[5]}.json`]);
  });
});

describe('log growth and rotation', () => {
  it('bytes per call at each level; copytruncate and rename rotation both work', async () => {
    const log = at('var/log/dpdk-cni.log');
    const c = (level: string) => conf({ logFile: '/var/log/dpdk-cni.log', logLevel: level });
    const perPair: Record<string, number> = {};
    for (const level of ['error', 'info', 'debug']) {
      if (existsSync(log)) truncateSync(log, 0);
      const n = 50;
      for (let i = 0; i < n; i++) {
        expect((await inproc({ command: 'ADD', conf: c(level), netns: LIVE, root: node.root })).code).toBe(0);
        expect((await inproc({ command: 'DEL', conf: c(level), netns: LIVE, root: node.root })).code).toBe(0);
      }
      perPair[level] = Math.round(statSync(log).size / n);
      rows.push({ check: `log bytes per ADD+DEL at ${level}`, umask: '', expected: level === 'error' ? '0' : level === 'info' ? '< 2048' : '< 4096', measured: perPair[level]! });
    }
    expect(perPair.error).toBe(0);
    expect(perPair.info).toBeLessThan(2048);
    expect(perPair.debug).toBeLessThan(4096);

    // logrotate copytruncate: the file is copied, then truncated while we may have it open
    expect((await inproc({ command: 'ADD', conf: c('info'), netns: LIVE, root: node.root })).code).toBe(0);
    const before = readFileSync(log);
    writeFileSync(`${log}.1`, before);
    truncateSync(log, 0);
    expect((await inproc({ command: 'DEL', conf: c('info'), netns: LIVE, root: node.root })).code).toBe(0);
    const after = readFileSync(log);
    expect(after[0]).toBe('{'.charCodeAt(0)); // no hole of NUL bytes up to the old offset: O_APPEND
    expect(after.includes(0)).toBe(false);
    expect(after.toString().trim().split('\n').every((l) => JSON.parse(l).cmd === 'DEL')).toBe(true);
    rows.push({ check: 'after copytruncate the next line starts at offset 0 (no NUL hole)', umask: '', expected: 'yes', measured: after[0] === 123 ? 'yes' : 'no' });

    // rename rotation (logrotate's default create): the next call creates a new file, 0600
    renameSync(log, `${log}.2`);
    const kept = readFileSync(`${log}.2`);
    expect((await inproc({ command: 'ADD', conf: c('info'), netns: LIVE, root: node.root })).code).toBe(0);
    expect(mode(log)).toBe('0600');
    expect(readFileSync(`${log}.2`)).toEqual(kept);
    rows.push({ check: 'after rename rotation the next call creates a new 0600 file', umask: '', expected: 'yes', measured: mode(log) === '0600' ? 'yes' : 'no' });
  });
});

describe('no descriptor, child process or handle leak', () => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const children = () => readdirSync('/proc/self/task').map((t) => { try { return readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim(); } catch { return ''; } }).filter(Boolean);
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('a long in-process loop of runCni (success, refusal, invalid input, lock timeout, IPAM, log file, device-info) keeps /proc/self/fd flat', async () => {
    const ipam = { type: 'host-local', subnet: '10.232.0.0/24', dataDir: at('ipam') };
    const ok = (i: number) => conf({ deviceID: vfs[i % 8], ipam: i % 4 === 0 ? ipam : undefined, logFile: '/var/log/dpdk-cni.log', runtimeConfig: { CNIDeviceInfoFile: `${DI}/hyg-c0ffee_net1` } });
    // an owner that stays: ADDs of its device are refused with 102
    expect((await inproc({ command: 'ADD', conf: conf({ deviceID: vfs[20] }), containerId: 'owner', netns: LIVE, root: node.root })).code).toBe(0);
    // a lock held by someone else: ADDs of that device time out with 11
    const held = createServer();
    await new Promise<void>((res) => held.listen({ path: `\0${deviceLockName(node.root, vfs[21]!)}` }, () => res()));
    const iteration = async (i: number) => {
      const out: number[] = [];
      const a = await inproc({ command: 'ADD', conf: ok(i), netns: LIVE, root: node.root, path: CNI_PLUGINS });
      out.push(a.code);
      out.push((await inproc({ command: 'CHECK', conf: { ...ok(i), prevResult: a.json }, netns: LIVE, root: node.root, path: CNI_PLUGINS })).code);
      out.push((await inproc({ command: 'DEL', conf: ok(i), netns: LIVE, root: node.root, path: CNI_PLUGINS })).code);
      const busy = await inproc({ command: 'ADD', conf: conf({ deviceID: vfs[20] }), containerId: `b${i}`, netns: LIVE, root: node.root });
      const bad = await inproc({ command: 'ADD', conf: conf({ deviceID: 'nope' }), netns: LIVE, root: node.root });
      const locked = i % 10 === 0 ? await inproc({ command: 'ADD', conf: conf({ deviceID: vfs[21] }), containerId: `l${i}`, netns: LIVE, root: node.root, env: { DPDK_CNI_LOCK_TIMEOUT_MS: '30' } }) : undefined;
      expect([out, busy.json?.code, bad.json?.code, locked?.json?.code ?? 11], `iteration ${i}`).toEqual([[0, 0, 0], 102, 7, 11]);
    };
    for (let i = 0; i < 20; i++) await iteration(i); // warm-up: modules loaded, caches filled
    await settle();
    const fd0 = fds();
    const res0 = process.getActiveResourcesInfo().length;
    const N = Number(process.env.RELIABILITY_LEAK_ITERATIONS ?? 300);
    const t0 = performance.now();
    for (let i = 20; i < 20 + N; i++) await iteration(i);
    const ms = performance.now() - t0;
    await settle();
    const fd1 = fds();
    const res1 = process.getActiveResourcesInfo().length;
    held.close();
    rows.push({ check: `open fds before/after ${N} iterations (${N * 6} calls, ${Math.round(ms / N / 6)} ms/call)`, umask: '', expected: 'equal', measured: `${fd0} → ${fd1}` });
    rows.push({ check: 'active handles before/after', umask: '', expected: 'equal', measured: `${res0} → ${res1}` });
    rows.push({ check: 'child processes left', umask: '', expected: '0', measured: children().length });
    expect(fd1).toBe(fd0);
    expect(res1).toBe(res0);
    expect(children()).toEqual([]);
  }, 600_000);
});

afterAll(() => report('hygiene', 'Resource hygiene', rows));
