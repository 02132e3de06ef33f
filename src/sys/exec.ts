import type * as ChildProcess from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}
export interface ExecOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}
export type Exec = (file: string, args: readonly string[], opts?: ExecOptions) => ExecResult;

// child_process costs 7-28 ms to load; a DPDK-mode ADD without IPAM or VF settings never runs a
// program, so it is loaded on first use only.
let cp: typeof ChildProcess | undefined;
function childProcess(): typeof ChildProcess {
  return (cp ??= process.getBuiltinModule('node:child_process') as typeof ChildProcess);
}

/**
 * Run a program synchronously, never through a shell. `file` must be an absolute path.
 * A program that cannot be started yields code 127 and the reason on stderr.
 */
export const execSync: Exec = (file, args, opts = {}) => {
  const r = childProcess().spawnSync(file, args, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // EPIPE: the program exited without reading all of its stdin; it ran, so its own status counts
  const epipe = (r.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' && r.status !== null;
  if (r.error && !epipe) {
    return { code: 127, stdout: r.stdout ?? '', stderr: `${file}: ${r.error.message}` };
  }
  return { code: r.status ?? 128 + 9, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

export interface BoundedOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** after this, SIGTERM to the program's process group, then SIGKILL `killGraceMs` later */
  timeoutMs: number;
  killGraceMs: number;
  /** more bytes than this on stdout: the answer is unusable, the program is stopped the same way */
  maxStdout: number;
  /** stderr beyond this is dropped (it is only quoted in messages) */
  maxStderr?: number;
}
export interface BoundedResult extends ExecResult {
  /** why the program was stopped before it finished on its own */
  stopped?: 'timeout' | 'output';
}
export type BoundedExec = (file: string, args: readonly string[], opts: BoundedOptions) => Promise<BoundedResult>;

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

let setprivPath: string | null | undefined;
/** util-linux setpriv by absolute path, or null where the node has none (the program then runs directly). */
function pdeathsigWrapper(): string | null {
  if (setprivPath === undefined) {
    const p = findTool('setpriv');
    try {
      accessSync(p, constants.X_OK);
      setprivPath = p;
    } catch {
      setprivPath = null;
    }
  }
  return setprivPath;
}

/** After the program exited, how long its pipes may stay open (held by a child outside its group). */
const DRAIN_MS = 500;

/**
 * Run a program we do not control (an IPAM plugin), bounded in time and output, never through a
 * shell. It runs in a process group of its own (a new session), so everything it starts can be
 * stopped with it: on timeout or too much output the group gets SIGTERM, then SIGKILL after the
 * grace period; once the program itself has exited, whatever it left running in its group is
 * killed and the answer is returned at once, even when a left-over child still holds the pipes.
 * spawnSync cannot do this: it waits for the pipes to close and signals only the program itself.
 */
export const execBounded: BoundedExec = (file, args, opts) =>
  new Promise((resolve) => {
    const maxErr = opts.maxStderr ?? 64 * 1024;
    // Under setpriv --pdeathsig KILL the kernel kills the program when we die, even by SIGKILL (a
    // runtime's timeout): an orphaned IPAM ADD must not allocate after the runtime's DEL released.
    const setpriv = pdeathsigWrapper();
    const child = setpriv
      ? childProcess().spawn(setpriv, ['--pdeathsig', 'KILL', '--', file, ...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
      : childProcess().spawn(file, [...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    // SIGTERM/SIGINT/SIGHUP to us while it runs: its whole group goes with us, then the signal's
    // default action ends us as it would have.
    const onSignal = (sig: NodeJS.Signals) => {
      group('SIGKILL');
      for (const s of SIGNALS) process.removeListener(s, onSignal);
      process.kill(process.pid, sig);
    };
    for (const s of SIGNALS) process.on(s, onSignal);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let stopped: BoundedResult['stopped'];
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let failed: Error | undefined;
    let open = 2;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const group = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* the group is gone */
      }
    };
    const finish = () => {
      if (done) return;
      done = true;
      for (const s of SIGNALS) process.removeListener(s, onSignal);
      for (const t of timers) clearTimeout(t);
      child.stdout.destroy();
      child.stderr.destroy();
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (failed && !exit) resolve({ code: 127, stdout, stderr: `${file}: ${failed.message}` });
      else {
        const r: BoundedResult = { code: exit?.code ?? 128 + 9, stdout, stderr };
        if (stopped) r.stopped = stopped;
        resolve(r);
      }
    };
    const stop = (why: NonNullable<BoundedResult['stopped']>) => {
      if (stopped) return;
      stopped = why;
      if (exit) return; // its group was killed when it exited
      group('SIGTERM');
      timers.push(setTimeout(() => {
        group('SIGKILL');
        // a process that does not die even from SIGKILL (stuck in the kernel): give up waiting
        timers.push(setTimeout(finish, DRAIN_MS));
      }, opts.killGraceMs));
    };
    child.stdout.on('data', (d: Buffer) => {
      if (stopped === 'output') return;
      if (outLen + d.length > opts.maxStdout) {
        out.push(d.subarray(0, opts.maxStdout - outLen));
        outLen = opts.maxStdout;
        stop('output');
        return;
      }
      out.push(d);
      outLen += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (errLen >= maxErr) return;
      err.push(d.subarray(0, maxErr - errLen));
      errLen += Math.min(d.length, maxErr - errLen);
    });
    const closed = () => {
      if (--open === 0 && (exit || failed)) finish();
    };
    child.stdout.on('close', closed);
    child.stderr.on('close', closed);
    child.on('error', (e) => {
      failed = e;
      if (!exit) finish(); // it never started
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      clearTimeout(deadline);
      group('SIGKILL'); // what it left behind in its group
      if (open === 0) finish();
      else timers.push(setTimeout(finish, DRAIN_MS));
    });
    // EPIPE: the program exited without reading all of its stdin; its own status counts
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const deadline = setTimeout(() => stop('timeout'), opts.timeoutMs);
    timers.push(deadline);
  });

/**
 * Find a system tool by absolute path. Thick Multus runs us chrooted into the host with its own
 * PATH, so never rely on PATH: search the usual system directories.
 */
const cache = new Map<string, string>();
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
export function findTool(name: string): string {
  const hit = cache.get(name);
  if (hit) return hit;
  for (const d of SYSTEM_DIRS) {
    const p = `${d}/${name}`;
    try {
      accessSync(p, constants.X_OK);
      cache.set(name, p);
      return p;
    } catch {
      /* next */
    }
  }
  return `/usr/sbin/${name}`;
}
