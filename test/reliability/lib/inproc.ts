/**
 * The plugin's own CNI entry point (src/cni/skel.ts runCni) called in-process, with the same
 * environment and stdin a runtime gives the executable. Spawning the executable costs ~80-300 ms per
 * call on a loaded CI machine; this costs ~1 ms, which is what lets the fuzzer reach >= 10,000 cases
 * and the crash harness run its follow-up calls quickly. It is the production code path minus
 * main.ts' wiring and exit code, which the executable-based checks cover.
 *
 * runCni gets its collaborators from here (src/cni/skel.ts Collaborators): the real verbs and Host,
 * with an exec that records every program run, a logger whose stderr lines are captured per call
 * instead of flooding the test output, and a stdout writer that records what runCni delivers.
 */
import { runCni, type Collaborators } from '../../../src/cni/skel.js';
import { handlers } from '../../../src/verbs/index.js';
import { withExecLog } from '../../../src/log/exec-log.js';
import { openLogger } from '../../../src/log/open.js';
import { execSync, type Exec } from '../../../src/sys/exec.js';
import { realFs } from '../../../src/sys/fs.js';
import { makeHost } from '../../../src/sys/host.js';
import { cniEnv, type CniCall, type RunResult } from '../../helpers/cni.js';

/** A program the plugin ran during one in-process call. */
export interface Spawned {
  file: string;
  args: string[];
  code: number | null;
}

/** The env a runtime would pass (test/helpers/cni.ts), re-exported for the reliability suites. */
export { cniEnv };

export interface InprocResult extends RunResult {
  /** what runCni wrote through its stdout beyond its one answer (must stay empty) */
  leakedStdout: string;
  ms: number;
  /** the programs it ran (ip, nsenter, IPAM plugins) */
  spawned: Spawned[];
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Call runCni with a raw env (fuzzing) or a CniCall. Never throws unless runCni does. Calls are
 * serialised, as a runtime runs one plugin process per call.
 */
export function runRaw(env: NodeJS.ProcessEnv, stdin: string): Promise<InprocResult> {
  const next = queue.then(() => runOne(env, stdin));
  queue = next.catch(() => undefined);
  return next;
}

async function runOne(env: NodeJS.ProcessEnv, stdin: string): Promise<InprocResult> {
  const stderr: string[] = [];
  const delivered: string[] = [];
  const spawned: Spawned[] = [];
  const exec: Exec = (file, args, opts) => {
    const r = execSync(file, args, opts);
    spawned.push({ file, args: [...args], code: r.code });
    return r;
  };
  const c: Collaborators = {
    handlers,
    host: (e, log) => withExecLog(makeHost(e, realFs, exec), log),
    logger: (conf, h, bound) => openLogger(conf, h, bound, { write: (text) => void stderr.push(text), close: () => undefined }),
    stdin: () => stdin,
    stdout: (text) => void delivered.push(text),
  };
  const t0 = performance.now();
  const out = await runCni(env, c);
  let json: any;
  try {
    json = out.stdout.trim() ? JSON.parse(out.stdout) : undefined;
  } catch {
    json = undefined;
  }
  const all = delivered.join('');
  const leakedStdout = delivered.length <= 1 && all === out.stdout ? '' : all;
  return { code: out.exitCode, stdout: out.stdout, stderr: stderr.join(''), json, leakedStdout, ms: performance.now() - t0, spawned };
}

export function inproc(c: CniCall): Promise<InprocResult> {
  return runRaw(cniEnv(c), c.stdin ?? (c.conf === undefined ? '' : JSON.stringify(c.conf)));
}
