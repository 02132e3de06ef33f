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
import { CNI_PLUGINS, type CniCall, type RunResult } from '../../helpers/cni.js';

const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
const realWriteSync = fs.writeSync;
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
  syncBuiltinESMExports();
}

/** The env a runtime would pass (same defaults as test/helpers/cni.ts). */
export function cniEnv(c: CniCall): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined) env[k] = v;
  };
  const podCmd = ['ADD', 'DEL', 'CHECK'].includes(c.command);
  set('CNI_COMMAND', c.command);
  set('CNI_CONTAINERID', c.containerId ?? (podCmd ? 'c0ffee' : undefined));
  set('CNI_NETNS', c.netns);
  set('CNI_IFNAME', c.ifname ?? (podCmd ? 'net1' : undefined));
  set('CNI_PATH', c.path ?? CNI_PLUGINS);
  set('CNI_ARGS', c.args);
  set('DPDK_CNI_ROOT', c.root);
  for (const [k, v] of Object.entries(c.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface InprocResult extends RunResult {
  /** bytes runCni itself wrote to fd 1 (must stay empty) */
  leakedStdout: string;
  ms: number;
}

/** Call runCni with a raw env (fuzzing) or a CniCall. Never throws unless runCni does. */
export async function runRaw(env: NodeJS.ProcessEnv, stdin: string): Promise<InprocResult> {
  install();
  stderrBuf = [];
  stdoutLeak = [];
  const t0 = performance.now();
  try {
    const out = await runCni(env, handlers, () => stdin, openLogger);
    let json: any;
    try {
      json = out.stdout.trim() ? JSON.parse(out.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { code: out.exitCode, stdout: out.stdout, stderr: stderrBuf.join(''), json, leakedStdout: stdoutLeak.join(''), ms: performance.now() - t0 };
  } finally {
    stderrBuf = undefined;
  }
}

export function inproc(c: CniCall): Promise<InprocResult> {
  return runRaw(cniEnv(c), c.stdin ?? (c.conf === undefined ? '' : JSON.stringify(c.conf)));
}
