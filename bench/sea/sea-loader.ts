/**
 * Main script of the single executable (bench/sea/build.mjs, the shipped "warmcache" blob). It only
 * compiles the CNI bundle from the SEA asset dpdk-cni.cjs with the V8 code cache dpdk-cni.cache
 * that the build made by running VERSION, ADD, CHECK, DEL, GC and STATUS through the same bundle
 * (bench/sea/sea-warmup.ts), then runs it. With the cache accepted, a CNI call neither parses the
 * bundle nor compiles the functions it runs; a rejected cache (another V8) only costs that time.
 * The human CLI is another asset, read only without CNI_COMMAND (src/sea/cli-asset.ts).
 */
import { compileChunk, runChunk, setSeaInfo } from '../../src/sea/chunk.js';

const sea = process.getBuiltinModule('node:sea');
const cache = new Uint8Array(sea.getAsset('dpdk-cni.cache'));
const compiled = compileChunk(sea.getAsset('dpdk-cni.cjs', 'utf8'), 'dpdk-cni.cjs', cache);
setSeaInfo({ codeCache: compiled.cache, codeCacheBytes: cache.byteLength });
runChunk(compiled, require, process.execPath);
