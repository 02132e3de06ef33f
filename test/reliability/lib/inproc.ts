/**
 * The plugin's own CNI entry point (src/cni/skel.ts runCni) called in-process, with the same
 * environment and stdin a runtime gives the executable. Spawning the executable costs ~80-300 ms per
 * call on a loaded CI machine; this costs ~1 ms, which is what lets the fuzzer reach >= 10,000 cases
 * and the crash harness run its follow-up calls quickly. It is the production code path minus
 * main.ts' two writes (stdout, exit code), which the executable-based checks cover.
 *
 * Everything the code writes to fd 2 (the line logger) is captured per call instead of flooding the
 * test output; a write to fd 1 from inside runCni (the result channel, which only main.ts may use) is
 * recorded as a leak.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { runCni } from '../../../src/cni/skel.js';
import { handlers } from '../../../src/commands/index.js';
import { openLogger } from '../../../src/log/open.js';
import { cniEnv, type CniCall, type RunResult } from '../../helpers/cni.js';

const require = createRequire(import.meta.url);
const fs = require('node:fs') as typeof import('node:fs');
const cp = require('node:child_process') as typeof import('node:child_process');
const realWriteSync = fs.writeSync;
const realSpawnSync = cp.spawnSync;

/** A program the plugin ran during one in-process call. */
export interface Spawned {
  file: string;
  args: string[];
  code: number | null;
}
let spawned: Spawned[] | undefined;
let stderrBuf: string[] | undefined;
let stdoutLeak: string[] = [];
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  (fs as { writeSync: unknown }).writeSync = function (fd: number, data: unknown, ...rest: unknown[]): number {
    if ((fd === 1 || fd === 2) && stderrBuf !== undefined) {
      const text = typeof data === 'string' ? data : Buffer.from(data as Uint8Array).toString('utf8');
      (fd === 2 ? stderrBuf : stdoutLeak).push(text);
      return typeof data === 'string' ? Buffer.byteLength(data) : (data as Uint8Array).byteLength;
    }
    return (realWriteSync as (...a: unknown[]) => number)(fd, data, ...rest);
  };
  (cp as { spawnSync: unknown }).spawnSync = function (file: string, args: readonly string[], opts: unknown) {
    const r = (realSpawnSync as (...a: unknown[]) => ReturnType<typeof realSpawnSync>)(file, args, opts);
    spawned?.push({ file, args: [...(args ?? [])], code: r.status });
    return r;
  };
  syncBuiltinESMExports();
}

/** The env a runtime would pass (test/helpers/cni.ts), re-exported for the reliability suites. */
export { cniEnv };

export interface InprocResult extends RunResult {
  /** bytes runCni itself wrote to fd 1 (must stay empty) */
  leakedStdout: string;
  ms: number;
  /** the programs it ran (ip, nsenter, IPAM plugins) */
  spawned: Spawned[];
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Call runCni with a raw env (fuzzing) or a CniCall. Never throws unless runCni does. Calls are
 * serialised: the fd capture is per call, and a runtime runs one plugin process per call anyway.
 */
export function runRaw(env: NodeJS.ProcessEnv, stdin: string): Promise<InprocResult> {
  const next = queue.then(() => runOne(env, stdin));
  queue = next.catch(() => undefined);
  return next;
}

async function runOne(env: NodeJS.ProcessEnv, stdin: string): Promise<InprocResult> {
  install();
  stderrBuf = [];
  stdoutLeak = [];
  spawned = [];
  const ran = spawned;
  const t0 = performance.now();
  try {
    const out = await runCni(env, handlers, () => stdin, openLogger);
    let json: any;
    try {
      json = out.stdout.trim() ? JSON.parse(out.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { code: out.exitCode, stdout: out.stdout, stderr: stderrBuf.join(''), json, leakedStdout: stdoutLeak.join(''), ms: performance.now() - t0, spawned: ran };
  } finally {
    stderrBuf = undefined;
    spawned = undefined;
  }
}

export function inproc(c: CniCall): Promise<InprocResult> {
  return runRaw(cniEnv(c), c.stdin ?? (c.conf === undefined ? '' : JSON.stringify(c.conf)));
}
