import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, CNI_PLUGINS, REPO } from '../helpers/cni.js';

/**
 * The libcni caller: test/callers/libcni/main.go, a runtime in miniature over Debian's libcni,
 * built once (offline, GOPATH mode) by test/callers/build.sh into node_modules/.cache.
 */
export function buildDriver(): string {
  const r = spawnSync('bash', [join(REPO, 'test/callers/build.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the libcni driver failed:\n${r.stderr}`);
  return r.stdout.trim();
}

export interface DriverCall {
  conflist: string;
  cache: string;
  path: string;
  netns?: string;
  cid?: string;
  ifname?: string;
  args?: string;
  cap?: Record<string, unknown>;
  valid?: Array<[string, string]>;
  env?: Record<string, string>;
}

export interface DriverResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export function runDriver(bin: string, cmd: 'add' | 'check' | 'del' | 'gc', c: DriverCall): DriverResult {
  const a = ['-conflist', c.conflist, '-cache', c.cache, '-path', c.path];
  if (c.netns !== undefined) a.push('-netns', c.netns);
  if (c.cid !== undefined) a.push('-cid', c.cid);
  if (c.ifname !== undefined) a.push('-ifname', c.ifname);
  if (c.args !== undefined) a.push('-args', c.args);
  if (c.cap !== undefined) a.push('-cap', JSON.stringify(c.cap));
  if (c.valid !== undefined) a.push('-valid', c.valid.map(([id, ifn]) => `${id}/${ifn}`).join(','));
  // libcni hands the plugin the caller's whole environment plus CNI_*.
  const r = spawnSync(bin, [cmd, ...a], { encoding: 'utf8', env: { PATH: process.env.PATH, ...c.env }, timeout: 120_000 });
  let json: any;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

/**
 * A plugin directory for CNI_PATH: `dpdk-cni` (the executable under test, by symlink, or by a
 * wrapper that pins DPDK_CNI_ROOT for callers that scrub the environment) and Debian's plugins.
 */
export function pluginDir(dir: string, opts: { root?: string; plugins?: string[] } = {}): string {
  mkdirSync(dir, { recursive: true });
  if (opts.root) {
    writeFileSync(join(dir, 'dpdk-cni'), `#!/bin/sh\nDPDK_CNI_ROOT='${opts.root}' exec '${BIN}' "$@"\n`, { mode: 0o755 });
  } else {
    symlinkSync(BIN, join(dir, 'dpdk-cni'));
  }
  for (const p of opts.plugins ?? ['host-local', 'static', 'tuning']) symlinkSync(join(CNI_PLUGINS, p), join(dir, p));
  return dir;
}

export function writeConflist(file: string, conflist: unknown): string {
  writeFileSync(file, JSON.stringify(conflist, null, 2));
  return file;
}
