import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cni.js';

/** The shipped single executable `npm run build` makes (build/bun.mjs: the bundle compiled by Bun). */
export const SHIPPED = join(REPO, 'dist/dpdk-cni-linux-x64');

/** Build it when it is missing or older than the bundle (~15 s). */
export function ensureShipped(): string {
  const bundle = join(REPO, 'dist/dpdk-cni');
  if (!existsSync(SHIPPED) || (existsSync(bundle) && statSync(SHIPPED).mtimeMs < statSync(bundle).mtimeMs)) {
    const b = spawnSync(process.execPath, [join(REPO, 'build/bun.mjs')], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) throw new Error(`node build/bun.mjs failed: ${b.stderr}`);
  }
  return SHIPPED;
}
