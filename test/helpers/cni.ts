import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
/** The built plugin under test: DPDK_CNI_BIN overrides (e.g. the single executable), relative to the cwd. */
export const BIN = process.env.DPDK_CNI_BIN ? resolve(process.env.DPDK_CNI_BIN) : join(REPO, 'dist/dpdk-cni');
export const TEST_BIN = join(REPO, 'dist/test/dpdk-cni');
/** Real CNI plugins (host-local, static, tuning) from Debian's containernetworking-plugins. */
export const CNI_PLUGINS = process.env.CNI_PLUGINS_DIR ?? '/usr/lib/cni';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export interface CniCall {
  command: string;
  conf?: unknown;
  stdin?: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  path?: string;
  args?: string;
  root?: string;
  env?: Record<string, string | undefined>;
  bin?: string;
}

/** What a runtime says about one call, one field per CNI_* variable (plus the simulated node's root). */
export interface CniVars {
  command: string;
  containerId?: string | undefined;
  netns?: string | undefined;
  ifname?: string | undefined;
  path?: string | undefined;
  args?: string | undefined;
  root?: string | undefined;
}

/** The CNI_* variables (and DPDK_CNI_ROOT) for `v`, exactly as given: an undefined field is left out; `value` maps each value. */
export function cniVars(v: CniVars, value: (s: string) => string = (s) => s): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (k: string, x: string | undefined) => {
    if (x !== undefined) env[k] = value(x);
  };
  set('CNI_COMMAND', v.command);
  set('CNI_CONTAINERID', v.containerId);
  set('CNI_NETNS', v.netns);
  set('CNI_IFNAME', v.ifname);
  set('CNI_PATH', v.path);
  set('CNI_ARGS', v.args);
  set('DPDK_CNI_ROOT', v.root);
  return env;
}

/** The environment a runtime would pass for `c` (pod commands get a container ID and ifname). */
export function cniEnv(c: CniCall): NodeJS.ProcessEnv {
  const podCmd = ['ADD', 'DEL', 'CHECK'].includes(c.command);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...cniVars({
      ...c,
      containerId: c.containerId ?? (podCmd ? 'c0ffee' : undefined),
      ifname: c.ifname ?? (podCmd ? 'net1' : undefined),
      path: c.path ?? CNI_PLUGINS,
    }),
  };
  for (const [k, v] of Object.entries(c.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** The JSON a CNI call answered on stdout; undefined when it is empty or not JSON. */
export function parseAnswer(stdout: string): any {
  try {
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** Run the built executable the way a runtime does: env + stdin, stdout = result or error. */
export function cni(c: CniCall): RunResult {
  const stdin = c.stdin ?? (c.conf === undefined ? '' : JSON.stringify(c.conf));
  const r = spawnSync(c.bin ?? BIN, [], { input: stdin, env: cniEnv(c), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: parseAnswer(r.stdout) };
}

/** Same, asynchronously (for concurrency tests). */
export function cniAsync(c: CniCall): Promise<RunResult> {
  return new Promise((res) => {
    const p = spawn(c.bin ?? BIN, [], { env: cniEnv(c) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr, json: parseAnswer(stdout) }));
    p.stdin.end(c.stdin ?? (c.conf === undefined ? '' : JSON.stringify(c.conf)));
  });
}

export function tempDir(prefix = 'dpdk-cni-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export const isRoot = process.getuid?.() === 0;

export function sh(cmd: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
