import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { BIN as DIST_BIN, TEST_BIN as DIST_TEST_BIN, type CniCall, type RunResult } from '../../helpers/cni.js';
import { cniEnv, inproc } from './inproc.js';
import { scratchBase } from './world.js';

/**
 * Private copies of the built executables: other work on the machine may rebuild dist/ while a
 * long run is going, and a half-written bundle must not look like a plugin failure.
 */
function privateCopy(src: string, tag: string): string {
  const dir = mkdtempSync(join(scratchBase(), `dpdk-cni-bin-${tag}-`));
  // removed when the test file that imported this module is done (vitest workers may not emit 'exit')
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const dst = join(dir, 'dpdk-cni');
  copyFileSync(src, dst);
  writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}\n');
  const v = spawnSync(dst, [], { env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' }, input: '{}', encoding: 'utf8' });
  if (v.status !== 0) throw new Error(`${src} does not run (rebuild with npm run build): ${v.stderr}`);
  return dst;
}
export const BIN = privateCopy(DIST_BIN, 'prod');
export const TEST_BIN = privateCopy(DIST_TEST_BIN, 'test');

export interface ExecResult extends RunResult {
  signal: NodeJS.Signals | null;
  ms: number;
}

/** The built executable, asynchronously (so several can run at once), with its exit signal. */
export function spawnCni(c: CniCall, timeoutMs = 60_000): Promise<ExecResult> {
  return spawnRaw(c.bin ?? BIN, cniEnv(c), c.stdin ?? (c.conf === undefined ? '' : JSON.stringify(c.conf)), timeoutMs);
}

/** Any program with exactly this environment and stdin (fuzzing). */
export function spawnRaw(file: string, env: NodeJS.ProcessEnv, stdin: string, timeoutMs = 60_000, cwd?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(file, [], { env, cwd });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.stdin.on('error', () => undefined); // a crash before stdin is read
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, signal, stdout, stderr, json, ms: performance.now() - t0 });
    });
    p.stdin.end(stdin);
  });
}

/**
 * A runtime's follow-up call: in-process by default (fast), through the executable when
 * RELIABILITY_EXEC=1 (slower, same code plus main.ts).
 */
export async function followUp(c: CniCall): Promise<RunResult> {
  if (process.env.RELIABILITY_EXEC === '1') return spawnCni({ bin: TEST_BIN, ...c });
  return inproc(c);
}
