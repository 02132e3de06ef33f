import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO } from './cni.js';

/** The Bun-compiled executable build/bun.mjs makes; DPDK_CNI_BUN_BIN overrides (relative to the cwd). */
export const BUN_EXE = process.env.DPDK_CNI_BUN_BIN ? resolve(process.env.DPDK_CNI_BUN_BIN) : join(REPO, 'dist/dpdk-cni-bun-linux-x64');

/** Build it when it is missing or older than the bundle (~5 s); an override is used as it is. */
export function ensureBun(): string {
  if (process.env.DPDK_CNI_BUN_BIN) return BUN_EXE;
  const bundle = join(REPO, 'dist/dpdk-cni');
  if (!existsSync(BUN_EXE) || (existsSync(bundle) && statSync(BUN_EXE).mtimeMs < statSync(bundle).mtimeMs)) {
    const b = spawnSync(process.execPath, [join(REPO, 'build/bun.mjs')], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) throw new Error(`node build/bun.mjs failed: ${b.stderr}`);
  }
  return BUN_EXE;
}
