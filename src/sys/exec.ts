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

/**
 * Run a program synchronously, never through a shell. `file` must be an absolute path.
 * A program that cannot be started yields code 127 and the reason on stderr.
 */
// child_process costs 7-28 ms to load; a DPDK-mode ADD without IPAM or VF settings never runs a
// program, so it is loaded on first use only.
let cp: typeof ChildProcess | undefined;
function childProcess(): typeof ChildProcess {
  return (cp ??= process.getBuiltinModule('node:child_process') as typeof ChildProcess);
}

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
