/**
 * Part 1 — crash consistency. The test build of the plugin (dist/test/dpdk-cni) SIGKILLs itself at
 * every distinct step of ADD and of DEL (DPDK_CNI_TEST_CRASH_AT, src/sys/fault.ts). Then the harness
 * does what a runtime would do next — DEL, DEL again, GC without the attachment in
 * cni.dev/valid-attachments (the pod's netns gone, or still there), or an ADD of the same device
 * for another pod (after the first pod's netns is gone, or while it is alive) — and lets the runtime
 * finish (DEL of every pod it knows, the pods' network namespaces destroyed as the kernel does it).
 * Then the host must be exactly as it was before the first ADD: the netdev's name, MAC, MTU, up
 * state and namespace; host-local leases; state files (temp files included); allocation markers;
 * device-info files; and the device lock must be free at once.
 *
 * Devices: a DPDK-mode VF (vfio-pci, no VF settings) and a netdev-mode PF-less NIC whose netdev is a
 * real veth end (MAC and MTU changed by ADD), both with host-local IPAM and a device-info file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CniCall, RunResult } from '../helpers/cni.js';
import { followUp, spawnCni, TEST_BIN } from './lib/run.js';
import { report, type Row } from './lib/report.js';
import { lockFree, World, type Mode } from './lib/world.js';

const ADD_STEPS: Record<Mode, string[]> = {
  netdev: [
    'add:locked', 'fs:tmp-written#1', 'fs:tmp-written#2', 'add:state-saved', 'add:vf-applied', 'add:ipam-done',
    'add:netdev-in-pod', 'add:netdev-moved', 'fs:tmp-written#3', 'add:devinfo-written', 'fs:tmp-written#4', 'add:state-added',
  ],
  dpdk: [
    'add:locked', 'fs:tmp-written#1', 'fs:tmp-written#2', 'add:state-saved', 'add:vf-applied', 'add:ipam-done',
    'fs:tmp-written#3', 'add:devinfo-written', 'fs:tmp-written#4', 'add:state-added',
  ],
};
const DEL_STEPS = ['del:locked', 'restore:after-vf', 'restore:after-netdev', 'restore:after-ipam', 'restore:after-devinfo', 'release:after-state'];
const FOLLOW = ['DEL', 'DEL twice', 'GC, netns gone', 'GC, netns alive', 'ADD other pod, netns gone', 'ADD other pod, netns alive'] as const;
type Follow = (typeof FOLLOW)[number];

/** Steps after which the crashed attachment is complete (phase "added"): another pod gets 102 until its DEL. */
const COMPLETE_AFTER_ADD = new Set(['add:state-added']);

interface Outcome {
  mode: Mode;
  phase: 'ADD' | 'DEL';
  at: string;
  follow: Follow;
  crashed: boolean;
  busy: number;
  problems: string[];
}
const outcomes: Outcome[] = [];

async function scenario(mode: Mode, phase: 'ADD' | 'DEL', at: string, follow: Follow): Promise<Outcome> {
  const w = new World(mode);
  const o: Outcome = { mode, phase, at, follow, crashed: false, busy: 0, problems: [] };
  try {
    const nsA = w.netns('a');
    const nsB = w.netns('b');
    const ifA = `a${w.id}`;
    const ifB = `b${w.id}`;
    const pod = (cid: string, ifname: string, ns: string) => (command: string, extra: Record<string, unknown> = {}): CniCall => ({
      command, conf: w.conf(extra, ifname, cid), containerId: cid, ifname, netns: World.path(ns), root: w.root,
      env: { DPDK_CNI_LOCK_TIMEOUT_MS: '3000' },
    });
    const A = pod('pod-a', ifA, nsA);
    const B = pod('pod-b', ifB, nsB);
    const gc = (): CniCall => ({ command: 'GC', conf: { ...w.conf(), 'cni.dev/valid-attachments': [] }, root: w.root, env: { DPDK_CNI_LOCK_TIMEOUT_MS: '3000' } });
    const expectOk = (what: string, r: RunResult) => {
      if (r.code !== 0) o.problems.push(`${what}: exit ${r.code} ${r.stdout.trim()}`);
    };
    const base = await w.snapshot([ifA, ifB]);

    // the crash
    if (phase === 'DEL') expectOk('ADD pod-a', await followUp(A('ADD')));
    const crash = await spawnCni({ ...A(phase), bin: TEST_BIN, env: { DPDK_CNI_LOCK_TIMEOUT_MS: '3000', DPDK_CNI_TEST_CRASH_AT: at } });
    o.crashed = crash.signal === 'SIGKILL';
    if (!o.crashed) o.problems.push(`step ${at} was never reached: ${phase} ended with exit ${crash.code} ${crash.stdout.trim()}`);
    if (!(await lockFree(w.root, w.pci))) o.problems.push('the device lock was still held after the crash');

    // what the runtime does next
    switch (follow) {
      case 'DEL':
        expectOk('DEL pod-a', await followUp(A('DEL')));
        break;
      case 'DEL twice':
        expectOk('DEL pod-a', await followUp(A('DEL')));
        expectOk('DEL pod-a again', await followUp(A('DEL')));
        break;
      case 'GC, netns gone':
        w.killNetns(nsA);
        expectOk('GC', await followUp(gc()));
        break;
      case 'GC, netns alive':
        expectOk('GC', await followUp(gc()));
        break;
      case 'ADD other pod, netns gone':
      case 'ADD other pod, netns alive': {
        if (follow === 'ADD other pod, netns gone') w.killNetns(nsA);
        let b = await followUp(B('ADD'));
        const completeA = phase === 'DEL' ? at !== 'release:after-state' : COMPLETE_AFTER_ADD.has(at);
        if (b.json?.code === 102 && follow === 'ADD other pod, netns alive' && completeA) {
          // pod-a still owns a complete attachment and its netns lives: the intended "already
          // allocated"; the runtime finishes pod-a's DEL and retries
          o.busy++;
          expectOk('DEL pod-a (before retrying pod-b)', await followUp(A('DEL')));
          b = await followUp(B('ADD'));
        }
        expectOk('ADD pod-b', b);
        // the runtime's late DEL for pod-a must not disturb pod-b
        expectOk('DEL pod-a (late)', await followUp(A('DEL')));
        if (b.code === 0) expectOk('CHECK pod-b after pod-a was deleted', await followUp(B('CHECK', { prevResult: b.json })));
        expectOk('DEL pod-b', await followUp(B('DEL')));
        break;
      }
    }
    // the runtime is done with both pods: their namespaces contain only lo, then are destroyed
    const before = World.diff(base, await w.snapshot([ifA, ifB]));
    for (const d of before) if (d.startsWith('pod ')) o.problems.push(`before the netns were destroyed: ${d}`);
    w.killNetns(nsA);
    w.killNetns(nsB);
    o.problems.push(...World.diff(base, await w.snapshot([ifA, ifB])));
  } catch (e) {
    o.problems.push(`harness: ${(e as Error).stack}`);
  } finally {
    w.cleanup();
  }
  outcomes.push(o);
  return o;
}

const MODES: Mode[] = ['dpdk', 'netdev'];
const cases: Array<[Mode, 'ADD' | 'DEL', string, Follow]> = [];
for (const mode of MODES) {
  for (const at of ADD_STEPS[mode]) for (const f of FOLLOW) cases.push([mode, 'ADD', at, f]);
  for (const at of DEL_STEPS) for (const f of FOLLOW) cases.push([mode, 'DEL', at, f]);
}

describe.runIf(process.getuid?.() === 0)('crash consistency (SIGKILL at every step of ADD and DEL)', () => {
  it.concurrent.each(cases)('%s: %s killed at %s, then %s → host exactly as before', async (mode, phase, at, follow) => {
    const o = await scenario(mode, phase, at, follow);
    expect(o.problems).toEqual([]);
    expect(o.crashed).toBe(true);
  });

  afterAll(() => {
    const rows: Row[] = [];
    for (const mode of MODES) {
      for (const phase of ['ADD', 'DEL'] as const) {
        const mine = outcomes.filter((o) => o.mode === mode && o.phase === phase);
        if (mine.length === 0) continue;
        rows.push({
          mode, command: phase,
          'steps covered': new Set(mine.filter((o) => o.crashed).map((o) => o.at)).size,
          scenarios: mine.length,
          '102 (intended)': mine.reduce((n, o) => n + o.busy, 0),
          leftovers: mine.reduce((n, o) => n + o.problems.length, 0),
        });
      }
    }
    const all = outcomes;
    rows.push({
      mode: 'total', command: 'ADD+DEL',
      'steps covered': new Set(all.filter((o) => o.crashed).map((o) => `${o.phase}:${o.at}`)).size,
      scenarios: all.length,
      '102 (intended)': all.reduce((n, o) => n + o.busy, 0),
      leftovers: all.reduce((n, o) => n + o.problems.length, 0),
    });
    report('crash', 'Crash consistency: SIGKILL at every step, then the runtime\'s next action', rows, {
      steps: { add: ADD_STEPS, del: DEL_STEPS }, followUps: FOLLOW,
      failures: all.filter((o) => o.problems.length > 0).map((o) => ({ mode: o.mode, phase: o.phase, at: o.at, follow: o.follow, problems: o.problems })),
    });
  });
});
