/**
 * Build step of the single executable (bench/sea/build.mjs): runs the CNI bundle through
 * src/sea/chunk.ts exactly as the executable's loader will, for one CNI command (the environment
 * and stdin are the command's), and at exit writes V8's code cache of the bundle to
 * DPDK_CNI_WARM_CACHE — including every function this run compiled. Run once per command, each
 * run starting from the previous cache, so the cache ends up holding the code of all of them.
 * Must be run by the very node binary the executable embeds (a code cache is specific to it).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { compileChunk, runChunk } from '../../src/sea/chunk.js';

const src = process.env.DPDK_CNI_WARM_SRC;
const out = process.env.DPDK_CNI_WARM_CACHE;
if (!src || !out) {
  process.stderr.write('sea-warmup: DPDK_CNI_WARM_SRC and DPDK_CNI_WARM_CACHE must be set\n');
  process.exit(2);
}
const compiled = compileChunk(readFileSync(src, 'utf8'), 'dpdk-cni.cjs', existsSync(out) ? readFileSync(out) : undefined);
if (compiled.cache === 'rejected') {
  process.stderr.write('sea-warmup: the previous cache was rejected (made by another node?)\n');
  process.exit(3);
}
process.on('exit', () => writeFileSync(out, compiled.script.createCachedData()));
runChunk(compiled, require, src);
