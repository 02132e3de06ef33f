#!/usr/bin/env node
// Build the shipped single executable dist/dpdk-cni-linux-<arch>: the esbuild bundle compiled by
// Bun (issue #16: it beat the Node 24 SEA on every bench row; the SEA is kept for measurement
// only, bench/sea/). Offline:
//   1. bundle src/ with build/bundle.mjs (the file must end in .cjs: `bun build` takes a file
//      without extension for an asset and the executable then does nothing at all);
//   2. copy the Bun runtime of the target from its npm package @oven/bun-linux-<arch>[-baseline]
//      (x64: a devDependency; others: see bunBinary; never a download) and neutralise in that copy
//      the environment variables that steer a compiled executable before (or instead of) our code:
//      see GUARDED below;
//   3. `bun build --compile --bytecode` (the build machine's bun) with that copy as
//      --compile-executable-path, and .env / bunfig.toml / tsconfig.json / package.json
//      autoloading off;
//   4. smoke-test it from / under a hostile environment (another arch: through qemu-user when
//      installed) and rename into place.
//
//   node build/bun.mjs                     # dist/dpdk-cni-linux-x64 (Bun's x64 build: needs AVX2)
//   node build/bun.mjs --baseline          # dist/dpdk-cni-linux-x64-baseline (no AVX2 needed)
//   DPDK_CNI_BUN_ARM64=/s/node_modules/@oven/bun-linux-aarch64/bin/bun node build/bun.mjs --arch arm64
//   node build/bun.mjs --arch all          # every arch whose runtime is found
//   node build/bun.mjs --out FILE
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from './bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/**
 * Environment variables a Bun executable reads before our code runs (or that turn it into the bun
 * CLI, or make it write files), with no compile flag to turn them off. In the runtime copy each
 * name's first byte becomes NUL: an environment entry cannot contain NUL, so no variable can ever
 * match the lookup again (glibc's getenv("") finds nothing either). Every name must be found
 * (else the Bun version changed how it reads them, and the build stops).
 *   BUN_OPTIONS        extra bun CLI arguments: `--preload x.js` ran code before ours, `--print`
 *                      printed on stdout after the CNI result
 *   BUN_BE_BUN         =1 makes the executable the bun CLI (our code never runs)
 *   BUN_INSPECT*       the inspector (BUN_INSPECT, _CONNECT_TO, _NOTIFY, _PRELOAD): runs code
 *   BUN_BYTECODE_*_OUT profile files written where the variable says (as root)
 *   BUN_TRACE          a trace file written where the variable says
 */
export const GUARDED = ['BUN_OPTIONS', 'BUN_BE_BUN', 'BUN_INSPECT', 'BUN_BYTECODE_ORDER_OUT', 'BUN_BYTECODE_DIGEST_OUT', 'BUN_BYTECODE_ORDER_NAMES_OUT', 'BUN_TRACE'];

const ARCHES = { x64: 'x64', arm64: 'aarch64' };
/** The CPU names qemu-user and the Debian cross toolchains use. */
const QEMU = { x64: 'x86_64', arm64: 'aarch64' };

class BunBuildError extends Error {}
function die(msg) {
  throw new BunBuildError(msg);
}
function log(msg) {
  process.stderr.write(`bun: ${msg}\n`);
}

/**
 * The bun binary of the npm package @oven/bun-linux-<arch>[-baseline] (x64: a devDependency), or
 * the one named by DPDK_CNI_BUN_<ARCH>[_BASELINE]: npm refuses to install another arch's package
 * without --force, so install it into a scratch dir (same version as package.json's
 * @oven/bun-linux-x64) and point there, e.g.
 *   npm install --no-save --force --ignore-scripts --prefix /tmp/b @oven/bun-linux-aarch64@1.4.4
 *   DPDK_CNI_BUN_ARM64=/tmp/b/node_modules/@oven/bun-linux-aarch64/bin/bun
 */
export function bunBinary(arch = 'x64', baseline = false) {
  const override = process.env[`DPDK_CNI_BUN_${arch.toUpperCase()}${baseline ? '_BASELINE' : ''}`];
  if (override) return existsSync(override) ? override : undefined;
  const name = `@oven/bun-linux-${ARCHES[arch]}${baseline ? '-baseline' : ''}`;
  let dir;
  try {
    dir = dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
  const bin = join(dir, 'bin/bun');
  return existsSync(bin) ? bin : undefined;
}

/** Copy `src` to `dst` with every GUARDED name's first byte set to NUL; returns the counts. */
export function neutralise(src, dst) {
  const image = readFileSync(src);
  const counts = {};
  for (const name of GUARDED) {
    const needle = Buffer.from(name);
    let n = 0;
    for (let at = image.indexOf(needle); at >= 0; at = image.indexOf(needle, at + needle.length)) {
      image[at] = 0;
      n++;
    }
    if (n === 0) die(`${name} is not in ${src}: this Bun reads its environment differently; check GUARDED in build/bun.mjs against its docs`);
    counts[name] = n;
  }
  writeFileSync(dst, image);
  chmodSync(dst, 0o755);
  return counts;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  return r;
}

export async function buildBun({ arch = 'x64', baseline = false, out } = {}) {
  if (!ARCHES[arch]) die(`unknown arch ${arch} (one of ${Object.keys(ARCHES).join(', ')})`);
  // the compiler is the build machine's bun; the runtime inside the executable is the target's
  const compiler = bunBinary(process.arch, false) ?? bunBinary(process.arch, true);
  if (!compiler) die(`@oven/bun-linux-${ARCHES[process.arch]} is not installed (a devDependency: npm ci)`);
  const runtime = bunBinary(arch, baseline);
  const envName = `DPDK_CNI_BUN_${arch.toUpperCase()}${baseline ? '_BASELINE' : ''}`;
  if (!runtime) die(`the Bun runtime for ${arch}${baseline ? ' (baseline)' : ''} is not found: npm install --no-save --force --ignore-scripts --prefix DIR @oven/bun-linux-${ARCHES[arch]}${baseline ? '-baseline' : ''}@<package.json's @oven/bun-linux-x64 version>, then ${envName}=DIR/node_modules/@oven/bun-linux-${ARCHES[arch]}${baseline ? '-baseline' : ''}/bin/bun`);
  out ??= join(root, `dist/dpdk-cni-linux-${arch}${baseline ? '-baseline' : ''}`);
  const work = join(root, 'dist/bun', `${arch}${baseline ? '-baseline' : ''}.${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const t0 = Date.now();
    const main = join(work, 'dpdk-cni.cjs');
    await bundle({ outfile: main, testHooks: false, shebang: false });
    const rt = join(work, 'bun-runtime');
    neutralise(runtime, rt);
    const bin = join(work, 'dpdk-cni');
    const c = run(compiler, [
      'build', '--compile', '--bytecode',
      '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig',
      '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json',
      `--target=bun-linux-${arch}${baseline ? '-baseline' : ''}`,
      `--compile-executable-path=${rt}`,
      main, '--outfile', bin,
    ], { cwd: work, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    if (c.status !== 0) die(`bun build --compile failed (exit ${c.status}):\n${c.stderr}${c.stdout}`);
    const runVia = runner(arch);
    if (runVia) smoke(bin, runVia);
    const noAvx = arch === 'x64' && !baseline ? oldCpu() : undefined;
    if (noAvx) smoke(bin, noAvx, `on a CPU without AVX/AVX2 (qemu -cpu ${OLD_CPU}): this Bun needs newer CPU features than x86-64-v2; nodes without AVX2 need the -baseline package (node build/bun.mjs --baseline, docs/install.md)`);
    mkdirSync(dirname(out), { recursive: true });
    const tmpOut = `${out}.${process.pid}.tmp`;
    copyFileSync(bin, tmpOut);
    chmodSync(tmpOut, 0o755);
    renameSync(tmpOut, out); // atomic: a test running the old executable is not disturbed
    const ver = run(compiler, ['--version']).stdout.trim();
    log(`${relative(root, out) || out}: ${(statSync(out).size / 1e6).toFixed(1)} MB, Bun ${ver} (${relative(root, runtime)}) in ${((Date.now() - t0) / 1000).toFixed(1)} s${!runVia ? ` (NOT smoke-tested: no qemu-${QEMU[arch]}-static + /usr/${QEMU[arch]}-linux-gnu to run ${arch} here)` : runVia.exe.length ? ` (smoke-tested with ${runVia.exe[0]})` : ''}${noAvx ? `, runs on ${OLD_CPU} (no AVX2)` : ''}`);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * How to run a binary of `arch` here: natively, or through qemu-user (qemu-user-static) with the
 * Debian cross libraries as its root (libc6-<arch>-cross); undefined when neither is possible.
 */
export function runner(arch) {
  if (arch === process.arch) return { exe: [], env: {} };
  const q = `/usr/bin/qemu-${QEMU[arch]}-static`;
  const sysroot = `/usr/${QEMU[arch]}-linux-gnu`;
  if (!existsSync(q) || !existsSync(`${sysroot}/lib`)) return undefined;
  return { exe: [q], env: { QEMU_LD_PREFIX: sysroot } };
}

/**
 * The oldest x64 CPU the shipped executable is promised to run on (docs/install.md): Nehalem is
 * x86-64-v2 (SSE4.2, POPCNT; no AVX, no AVX2). Bun's default x64 build may need AVX2, its
 * -baseline build does not; at Bun 1.4.4 the two npm packages hold the same binary. The build
 * runs the smoke test on this CPU model through qemu-user when qemu-x86_64-static is installed.
 */
const OLD_CPU = 'Nehalem';
function oldCpu() {
  const q = '/usr/bin/qemu-x86_64-static';
  return existsSync(q) ? { exe: [q, '-cpu', OLD_CPU], env: {} } : undefined;
}

/** VERSION from / in a near-empty, hostile environment: exactly the CNI answer, nothing else. */
function smoke(bin, { exe, env }, why = '') {
  const r = run(exe[0] ?? bin, exe.length ? [...exe.slice(1), bin] : [], {
    cwd: '/',
    env: { CNI_COMMAND: 'VERSION', BUN_OPTIONS: '--print "dpdk-cni-smoke"', BUN_BE_BUN: '1', ...env },
    input: '{"cniVersion":"1.0.0"}',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let ok = false;
  try {
    ok = r.status === 0 && JSON.parse(r.stdout).cniVersion === '1.0.0' && r.stderr === '';
  } catch {
    ok = false;
  }
  if (!ok) die(`smoke test of ${bin} failed${why ? ` ${why}` : ''} (exit ${r.status}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const baseline = args.includes('--baseline');
  const arches = (opt('arch') ?? 'x64') === 'all' ? Object.keys(ARCHES).filter((a) => bunBinary(a, baseline)) : [opt('arch') ?? 'x64'];
  try {
    for (const arch of arches) await buildBun({ arch, baseline, out: opt('out') });
  } catch (e) {
    process.stderr.write(`bun: ERROR: ${e instanceof BunBuildError ? e.message : e.stack}\n`);
    process.exit(1);
  }
}
