import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cni.js';

/** The single executable `npm run build` makes (build/sea.mjs). */
export const SEA = join(REPO, 'dist/dpdk-cni-linux-x64');

/** Build the single executable when it is missing or older than the bundle (then ~5 s). */
export function ensureSea(): string {
  const bundle = join(REPO, 'dist/dpdk-cni');
  if (!existsSync(SEA) || (existsSync(bundle) && statSync(SEA).mtimeMs < statSync(bundle).mtimeMs)) {
    const b = spawnSync(process.execPath, [join(REPO, 'build/sea.mjs')], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) throw new Error(`node build/sea.mjs failed: ${b.stderr}`);
  }
  return SEA;
}
