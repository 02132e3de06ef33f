import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execBounded, type BoundedOptions } from '../../src/sys/exec.js';

/**
 * execBounded runs programs we do not control (IPAM plugins): it must come back when the program
 * is done or overdue, whatever the program's children do, and leave none of them running.
 * Outcomes are asserted, not durations (the machine may be loaded); the bound checked is far below
 * the 300 s the programs would otherwise run.
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dpdk-cni-bounded-'));
});
afterEach(() => {
  for (const pid of pids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});
const pids = (): number[] => {
  try {
    return readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const running = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
async function survivors(): Promise<number[]> {
  for (let i = 0; i < 100 && pids().some(running); i++) await new Promise((r) => setTimeout(r, 100));
  return pids().filter(running);
}
const opts = (o: Partial<BoundedOptions> = {}): BoundedOptions => ({ timeoutMs: 60_000, killGraceMs: 300, maxStdout: 1024 * 1024, ...o });
const sh = (script: string, o?: Partial<BoundedOptions>) => execBounded('/bin/sh', ['-c', `PIDS='${join(dir, 'pids')}'\n${script}`], opts(o));

describe('execBounded', () => {
  it('returns the answer as soon as the program exits, although a child it left holds stdout; the child is killed', async () => {
    const t0 = performance.now();
    const r = await sh(`echo answer; echo oops >&2; sleep 300 & echo $! >> "$PIDS"; exit 3`);
    expect(r).toEqual({ code: 3, stdout: 'answer\n', stderr: 'oops\n' });
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(pids()).toHaveLength(1);
    expect(await survivors()).toEqual([]);
  });

  it('stops a program that ignores SIGTERM, and its children, on timeout (SIGTERM, then SIGKILL to the group)', async () => {
    const r = await sh(`trap '' TERM; echo $$ >> "$PIDS"; sleep 300 & echo $! >> "$PIDS"; echo partial; wait; wait`, { timeoutMs: 300 });
    expect(r.stopped).toBe('timeout');
    expect(r.stdout).toBe('partial\n');
    expect(pids()).toHaveLength(2);
    expect(await survivors()).toEqual([]);
  });

  it('stops a program that writes more than maxStdout and keeps only that much', async () => {
    const r = await sh(`echo $$ >> "$PIDS"; while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done`, { maxStdout: 4096 });
    expect(r.stopped).toBe('output');
    expect(r.stdout.length).toBe(4096);
    expect(await survivors()).toEqual([]);
  });

  it('drops stderr beyond maxStderr without stopping the program', async () => {
    const r = await sh(`head -c 100000 /dev/zero | tr '\\000' e >&2; echo done`, { maxStderr: 1000 });
    expect(r.stopped).toBeUndefined();
    expect([r.code, r.stdout, r.stderr.length]).toEqual([0, 'done\n', 1000]);
  });

  it('passes stdin and env, and reports the status of a program that did not read its stdin', async () => {
    expect(await execBounded('/bin/sh', ['-c', 'cat; echo "$X"'], opts({ input: 'in\n', env: { X: 'env' } }))).toEqual({ code: 0, stdout: 'in\nenv\n', stderr: '' });
    const big = 'x'.repeat(1024 * 1024);
    expect(await execBounded('/bin/sh', ['-c', 'exit 4'], opts({ input: big }))).toMatchObject({ code: 4 });
  });

  it('reports a program that cannot be started as 127 with the reason', async () => {
    const r = await execBounded('/nonexistent/dpdk-cni-bounded', [], opts());
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/ENOENT|No such file or directory/);
  });
});
