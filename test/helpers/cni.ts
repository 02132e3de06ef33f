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

/** The environment a runtime would pass for `c` (pod commands get a container ID and ifname). */
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

function parse(stdout: string): any {
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
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}

/** Same, asynchronously (for concurrency tests). */
export function cniAsync(c: CniCall): Promise<RunResult> {
  return new Promise((res) => {
    const p = spawn(c.bin ?? BIN, [], { env: cniEnv(c) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr, json: parse(stdout) }));
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
