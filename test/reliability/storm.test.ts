/**
 * Part 4 — concurrency storms against the built executable, DPDK mode on one simulated PF with 64
 * VFs. Each round starts 64 ADDs at once (one pod per VF) while the previous round's 64 pods, whose
 * network namespace has just been deleted, are DELed at the same moment (so every ADD races the old
 * pod's DEL and heals its stale allocation), a GC runs with the valid attachments the runtime knows,
 * long-lived attachments on other devices are CHECKed, and a second pod races one of the 64 for the
 * same VF. Intended outcome: the racer or the pod gets "already allocated" (102), nothing else
 * fails, every wave ends in bounded time, and afterwards every VF has exactly one owner with a
 * complete attachment — no lost, duplicated or leaked state, no temp file, no held lock.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { percentile, report } from './lib/report.js';
import { spawnCni, type ExecResult } from './lib/run.js';
import type { CniCall } from '../helpers/cni.js';
import { lockFree, scratchBase, sh } from './lib/world.js';

const ROUNDS = Number(process.env.RELIABILITY_ROUNDS ?? 10);
const WIDTH = 64;
const WAVE_LIMIT_MS = 180_000;
const LIVE = `/proc/${process.pid}/ns/net`;

interface Op {
  round: number;
  cmd: string;
  who: string;
  r: ExecResult;
}

describe.runIf(process.getuid?.() === 0)('concurrency storm', () => {
  const dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-storm-'));
  const node = new SimNode(join(dir, 'node'));
  const vfs = node.sriovPf('0000:af:00.0', { netdev: `st${process.pid}`.slice(0, 15), numVfs: WIDTH, mtu: 9000 });
  const steady = ['0000:00:06.0', '0000:00:07.0', '0000:00:08.0', '0000:00:09.0'];
  for (const s of steady) node.pci(s, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  const namespaces: string[] = [];
  const ops: Op[] = [];
  const unexpected: string[] = [];
  const waves: number[] = [];
  let busy = 0;
  const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
  const conf = (pci: string) => ({ cniVersion: '1.1.0', name: 'storm', type: 'dpdk-cni', deviceID: pci });
  const call = (c: Omit<CniCall, 'root'>) => spawnCni({ ...c, root: node.root, env: { DPDK_CNI_LOCK_TIMEOUT_MS: '60000' } }, WAVE_LIMIT_MS);
  const pod = (round: number, i: number) => `r${round}-p${i}`;

  afterAll(() => {
    for (const ns of namespaces) sh('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
    const lat = (cmd: string) => ops.filter((o) => o.cmd === cmd).map((o) => o.r.ms);
    const rows = ['ADD', 'DEL', 'CHECK', 'GC'].map((cmd) => ({
      command: cmd,
      ops: lat(cmd).length,
      'p50 ms': Math.round(percentile(lat(cmd), 50)),
      'p99 ms': Math.round(percentile(lat(cmd), 99)),
      'max ms': Math.round(Math.max(0, ...lat(cmd))),
      errors: ops.filter((o) => o.cmd === cmd && o.r.code !== 0).length,
    }));
    const all = ops.map((o) => o.r.ms);
    rows.push({ command: 'all', ops: ops.length, 'p50 ms': Math.round(percentile(all, 50)), 'p99 ms': Math.round(percentile(all, 99)), 'max ms': Math.round(Math.max(0, ...all)), errors: ops.filter((o) => o.r.code !== 0).length });
    report('storm', `Concurrency storm: ${waves.length} rounds of ${WIDTH} simultaneous ADDs with DEL/CHECK/GC and a racing pod (slowest wave ${Math.round(Math.max(0, ...waves))} ms; errors = intended 102 ${busy} + unexpected ${unexpected.length})`, rows, { rounds: waves.length, waveMs: waves, busy, unexpected });
  });

  it(`${ROUNDS} rounds of ${WIDTH} simultaneous ADDs interleaved with DELs, CHECKs and GCs; two pods racing for one VF`, async () => {
    // long-lived attachments CHECKed during every wave
    for (const [i, s] of steady.entries()) expect((await call({ command: 'ADD', conf: conf(s), containerId: `steady${i}`, netns: LIVE })).code).toBe(0);

    let prevNs: string | undefined;
    let prevOwners: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const ns = `rel-storm-${process.pid}-${round}`;
      sh('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
      // the previous round's pods are gone: their netns is deleted before their DEL comes
      if (prevNs) sh('ip', ['netns', 'del', prevNs]);
      const k = (round * 7) % WIDTH;
      const racer = `r${round}-racer`;
      const valid = [...steady.map((_, i) => ({ containerID: `steady${i}`, ifname: 'net1' })), ...vfs.map((_, i) => ({ containerID: pod(round, i), ifname: 'net1' })), { containerID: racer, ifname: 'net1' }];
      const jobs: Array<Promise<Op>> = [];
      const t0 = performance.now();
      const go = (cmd: string, who: string, c: Omit<CniCall, 'root'>) => jobs.push(call(c).then((r) => ({ round, cmd, who, r })));
      vfs.forEach((vf, i) => go('ADD', pod(round, i), { command: 'ADD', conf: conf(vf), containerId: pod(round, i), netns: `/run/netns/${ns}` }));
      go('ADD', racer, { command: 'ADD', conf: conf(vfs[k]!), containerId: racer, netns: `/run/netns/${ns}` });
      prevOwners.forEach((owner, i) => go('DEL', owner, { command: 'DEL', conf: conf(vfs[i]!), containerId: owner, netns: `/run/netns/${prevNs}` }));
      steady.forEach((s, i) => go('CHECK', `steady${i}`, { command: 'CHECK', conf: conf(s), containerId: `steady${i}`, netns: LIVE }));
      go('GC', 'gc', { command: 'GC', conf: { ...conf(vfs[0]!), 'cni.dev/valid-attachments': valid } });
      const done = await Promise.all(jobs);
      waves.push(performance.now() - t0);
      ops.push(...done);

      // judge the wave
      const contenders = done.filter((o) => o.cmd === 'ADD' && (o.who === racer || o.who === pod(round, k)));
      const winners = contenders.filter((o) => o.r.code === 0);
      if (winners.length !== 1) unexpected.push(`round ${round}: ${winners.length} winners for VF ${k}`);
      for (const o of done) {
        if (o.r.code === 0) continue;
        if (contenders.includes(o) && o.r.json?.code === 102 && winners.length === 1) {
          busy++;
          continue;
        }
        unexpected.push(`round ${round} ${o.cmd} ${o.who}: ${o.r.signal ?? o.r.code} ${o.r.stdout.trim()} ${o.r.stderr.slice(-300)}`);
      }
      const loser = contenders.find((o) => o.r.code !== 0);
      // the runtime DELs the pod whose ADD failed: that must not take the device from the winner
      if (loser) {
        const d = await call({ command: 'DEL', conf: conf(vfs[k]!), containerId: loser.who, netns: `/run/netns/${ns}` });
        ops.push({ round, cmd: 'DEL', who: loser.who, r: d });
        if (d.code !== 0) unexpected.push(`round ${round} DEL of the loser ${loser.who}: ${d.stdout}`);
      }
      const owners = vfs.map((_, i) => (i === k ? (winners[0]?.who ?? '?') : pod(round, i)));

      // no lost, duplicated or leaked state: every VF has exactly its owner's complete attachment
      const files = readdirSync(state('attachments')).sort();
      const expected = [...steady.map((_, i) => `storm@steady${i}@net1.json`), ...owners.map((o) => `storm@${o}@net1.json`)].sort();
      expect(files, `round ${round}: attachment files`).toEqual(expected);
      for (const [i, vf] of vfs.entries()) {
        const m = JSON.parse(readFileSync(state('devices', `${vf}.json`), 'utf8'));
        expect(m.key.containerID, `round ${round}: marker of VF ${i}`).toBe(owners[i]);
        const st = JSON.parse(readFileSync(state('attachments', `storm@${owners[i]}@net1.json`), 'utf8'));
        expect([st.phase, st.pci], `round ${round}: state of ${owners[i]}`).toEqual(['added', vf]);
      }
      expect(readdirSync(state('devices')).filter((f) => f.startsWith('.')), 'temp files').toEqual([]);
      expect(unexpected, `round ${round}`).toEqual([]);
      prevNs = ns;
      prevOwners = owners;
    }

    // the last pods go away as well, then the long-lived ones
    if (prevNs) sh('ip', ['netns', 'del', prevNs]);
    const last = await Promise.all(prevOwners.map((o, i) => call({ command: 'DEL', conf: conf(vfs[i]!), containerId: o, netns: `/run/netns/${prevNs}` })));
    const lastSteady = await Promise.all(steady.map((s, i) => call({ command: 'DEL', conf: conf(s), containerId: `steady${i}`, netns: LIVE })));
    for (const r of [...last, ...lastSteady]) ops.push({ round: ROUNDS + 1, cmd: 'DEL', who: 'final', r });
    expect([...last, ...lastSteady].filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    for (const d of ['attachments', 'devices']) expect(existsSync(state(d)) ? readdirSync(state(d)) : [], d).toEqual([]);
    for (const pci of [...vfs, ...steady]) expect(await lockFree(node.root, pci), `lock of ${pci}`).toBe(true);
    expect(Math.max(...waves)).toBeLessThan(WAVE_LIMIT_MS);
  }, 1_800_000);
});
