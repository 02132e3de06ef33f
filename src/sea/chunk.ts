import type { Script } from 'node:vm';

/**
 * The Node SEA (bench/sea/build.mjs, measurement only) ships its code as SEA assets instead of one main script:
 * the CNI bundle with a V8 code cache made by running it (so the functions a CNI call uses are
 * already compiled), and the human CLI as a separate chunk that a CNI call never reads. This
 * module compiles and runs such a CommonJS chunk the way Node's own loader wraps a module.
 * The wrapper text is part of the code cache's key: the build (bench/sea/sea-warmup.ts) and the
 * executable (bench/sea/sea-loader.ts) must both go through here.
 */
const HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const TAIL = '\n});';

export interface Compiled {
  script: Script;
  /** 'accepted' | 'rejected' (V8 version, flags or source differ: compiled lazily as usual) | 'none' */
  cache: 'accepted' | 'rejected' | 'none';
}

export function compileChunk(code: string, name: string, cachedData?: Uint8Array): Compiled {
  const vm = process.getBuiltinModule('node:vm');
  const script = new vm.Script(HEAD + code + TAIL, cachedData ? { filename: name, cachedData } : { filename: name });
  return { script, cache: !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted' };
}

/** Runs a compiled chunk with `require` (the single executable's: built-in modules only). */
export function runChunk(c: Compiled, req: NodeJS.Require, filename: string): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  const fn = c.script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown, f: string, d: string) => void;
  fn(module.exports, req, module, filename, filename.slice(0, filename.lastIndexOf('/')) || '/');
  return module.exports;
}

/** What the single executable's loader found, for `dpdk-cni version --verbose`. */
export interface SeaInfo {
  codeCache: Compiled['cache'];
  codeCacheBytes: number;
}
const KEY = Symbol.for('dpdk-cni.sea');
export function setSeaInfo(info: SeaInfo): void {
  (globalThis as Record<symbol, unknown>)[KEY] = info;
}
export function seaInfo(): SeaInfo | undefined {
  return (globalThis as Record<symbol, unknown>)[KEY] as SeaInfo | undefined;
}
