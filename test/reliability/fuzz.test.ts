/**
 * Part 2 — fuzzing (fast-check) of everything a runtime or a namespace user can put in front of the
 * plugin: the netconf on stdin (types, ranges, huge values, deep nesting, unicode, NUL bytes,
 * prototype-pollution keys), every CNI_* variable, CNI_ARGS, a prevResult of each CNI version, GC
 * attachment lists. Most cases run in-process through src/cni/skel.ts runCni() (~1 ms each); a
 * smaller number run through the built executable inside a private network namespace.
 *
 * Properties, for every case: the call ends (no hang), with exactly one CNI error JSON (valid JSON,
 * a spec or documented code, never 110 "internal") or a valid result / nothing; no stack trace on
 * stdout or stderr; nothing written to fd 1 by the protocol layer. When the call fails: no file or
 * directory under the node root changed (log files aside), no attachment or marker appeared or
 * vanished, and no program that changes links ran against anything but the simulated PF's netdev
 * (which does not exist in the kernel).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../src/cni/errors.js';
import { cniVars } from '../helpers/cni.js';
import { runRaw, type InprocResult } from './lib/inproc.js';
import { FuzzHost, LIVE } from './lib/fuzzhost.js';
import { report, type Row } from './lib/report.js';
import { BIN, spawnRaw } from './lib/run.js';
import { sh } from './lib/world.js';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
const CODES = new Set<number>([...ERROR_TABLE.map(([c]) => c), 3]);
/** Stack frames, raw or JSON-escaped inside a log line. */
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);
const SCALE = Number(process.env.RELIABILITY_FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

let host: FuzzHost;
const stats: Record<string, { cases: number; failures: number; ok: number; errors: Map<number, number>; ms: number }> = {};

function stat(name: string) {
  return (stats[name] ??= { cases: 0, failures: 0, ok: 0, errors: new Map(), ms: 0 });
}

// ---------- generators ----------

const weird = fc.constantFrom(
  '', ' ', '\0', 'a\0b', '..', '../../etc/passwd', '/', '//', '%2e%2e', '\u202e', '\ud800', '😀', 'x'.repeat(5000), '__proto__',
  'constructor', 'a#b', 'x"y', "a'b", 'a\\b', 'a;b', 'a=b', 'a\nb', '-x', '--help', 'NaN', '1e309', '0x10',
);
const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: weird },
);
const anyNumber = fc.oneof(
  fc.integer(), fc.integer({ min: -10, max: 70000 }), fc.double(), fc.constantFrom(0, -0, 1e308, -1e308, 2 ** 53 + 1, 4094, 4095, 65535, 65536, 68, 67, 0.5),
);
const jsonLeaf = fc.oneof(anyString, anyNumber, fc.boolean(), fc.constant(null));
const anyJson = fc.oneof(
  { weight: 4, arbitrary: jsonLeaf },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(jsonLeaf, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(anyString, jsonLeaf, { maxKeys: 4 }) },
);
const FIELDS = [
  'cniVersion', 'name', 'type', 'deviceID', 'pciBusID', 'vdpaDevice', 'vlan', 'vlanQoS', 'vlanProto', 'mac', 'mtu', 'spoofchk',
  'trust', 'link_state', 'min_tx_rate', 'max_tx_rate', 'ipam', 'dns', 'logLevel', 'logFile', 'runtimeConfig', 'args', 'prevResult',
  'cni.dev/valid-attachments', 'cni.dev/attachments', 'capabilities', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
];

function baseConf(host: FuzzHost, v: string, dev: string, ipam: boolean): Record<string, unknown> {
  const c: Record<string, unknown> = { cniVersion: v, name: 'fuzz-net', type: 'dpdk-cni', deviceID: dev };
  if (ipam) c.ipam = { type: 'host-local', subnet: '10.201.0.0/24', dataDir: host.ipamDir };
  return c;
}

/** host-local writes wherever dataDir says: keep it inside the root whatever the fuzzer did. */
function pinIpam(host: FuzzHost, c: unknown): void {
  if (c && typeof c === 'object' && !Array.isArray(c)) {
    const ipam = (c as Record<string, unknown>).ipam;
    if (ipam && typeof ipam === 'object' && !Array.isArray(ipam)) (ipam as Record<string, unknown>).dataDir = host.ipamDir;
  }
}

type Mutation = { op: 'set'; key: string; value: unknown } | { op: 'del'; key: string } | { op: 'nest'; key: string; depth: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.oneof(fc.constantFrom(...FIELDS), anyString), value: anyJson }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('del' as const), key: fc.constantFrom(...FIELDS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('nest' as const), key: fc.constantFrom(...FIELDS, 'x'), depth: fc.constantFrom(2, 50, 1000, 20000) }) },
);
/** JSON text: JSON.stringify cannot make 20,000 levels, so nesting is spliced in as text. */
function render(c: Record<string, unknown>, muts: Mutation[]): string {
  const o: Record<string, unknown> = { ...c };
  const nests: Array<[string, number]> = [];
  for (const m of muts) {
    if (m.op === 'set') {
      if (m.key === '__proto__') Object.defineProperty(o, '__proto__', { value: m.value, enumerable: true, configurable: true, writable: true });
      else o[m.key] = m.value;
    } else if (m.op === 'del') delete o[m.key];
    else nests.push([m.key, m.depth]);
  }
  let text = JSON.stringify(o);
  for (const [k, d] of nests) {
    const deep = `${'{"a":['.repeat(d)}1${']}'.repeat(d)}`;
    text = `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}${JSON.stringify(k)}:${deep}}`;
  }
  return text;
}

const stdinText = (host: FuzzHost) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...VERSIONS), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }).map((n) => n === 0), fc.array(mutation, { maxLength: 4 }))
      .map(([v, d, ipam, muts]) => {
        const c = baseConf(host, v, host.devices[d] ?? '0000:00:06.0', ipam);
        const text = render(c, muts);
        try {
          const j = JSON.parse(text) as unknown;
          pinIpam(host, j);
          return muts.some((m) => m.op === 'nest') ? text : JSON.stringify(j);
        } catch {
          return text;
        }
      }) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((j) => JSON.stringify(j)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{}', '[]', 'null', '"x"', '{"name":"a"}', '\0{}', '{"cniVersion":"1.1.0","name":"a\\u0000b"}', '\ufeff{"cniVersion":"1.1.0","name":"n"}', `{"cniVersion":"1.1.0","name":"n","x":"${'y'.repeat(1_000_000)}"}`) },
  );

const cniArgs = fc.oneof(
  fc.constant(undefined),
  fc.constant('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p'),
  fc.array(fc.tuple(fc.oneof(fc.constantFrom('IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_UID', 'K8S_POD_INFRA_CONTAINER_ID', 'MAC', 'IP', '', '=', 'X'), anyString), fc.oneof(anyString, fc.constantFrom('1', 'true', 'TRUE', '02:00:00:00:00:01', '01:00:00:00:00:01', '00:00:00:00:00:00', '10.0.0.5'))), { maxLength: 5 })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(';')),
  anyString,
);
/** What a process can receive in its environment: no NUL, and valid UTF-8 (Node decodes env as UTF-8). */
const envSafe = (s: string) => Buffer.from(s.replace(/\0/g, ''), 'utf8').toString('utf8');
const envArb = (host: FuzzHost, fuzzEnv: boolean) =>
  fc.record({
    command: fuzzEnv ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...COMMANDS) }, { weight: 1, arbitrary: fc.oneof(anyString, fc.constantFrom('add', 'Del', ' ADD', 'ADD\n')) }) : fc.constantFrom('ADD', 'DEL', 'CHECK', 'GC', 'STATUS'),
    containerId: fuzzEnv ? fc.oneof(fc.constantFrom('c0ffee', 'a'.repeat(64), undefined), anyString) : fc.constantFrom('c0ffee', 'pod-2'),
    netns: fuzzEnv ? fc.oneof(fc.constantFrom(LIVE, '/run/netns/no-such-ns', '/proc/1/ns/net', '/tmp', '', undefined), anyString) : fc.constant(LIVE),
    ifname: fuzzEnv ? fc.oneof(fc.constantFrom('net1', 'a#b', 'x"y', 'eth0', '123456789012345', '1234567890123456', '.', '..', undefined), anyString) : fc.constantFrom('net1', 'net2'),
    path: fuzzEnv ? fc.array(fc.oneof(fc.constant(host.plugins), fc.constant(`${host.plugins}/..`), fc.constant('/nonexistent-dpdk-cni'), anyString.filter((s) => !s.startsWith('/'))), { maxLength: 3 }).map((a) => a.join(':')) : fc.constant(host.plugins),
    args: fuzzEnv ? cniArgs : fc.constant(undefined),
  });

function envOf(host: FuzzHost, e: { command: string; containerId?: string; netns?: string; ifname?: string; path: string; args?: string }): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, DPDK_CNI_ROOT: host.root, DPDK_CNI_LOCK_TIMEOUT_MS: '2000', ...cniVars(e, envSafe) };
}

/** A prevResult in the shape of each CNI version, then perturbed. */
const prevResult = fc.tuple(
  fc.constantFrom(...VERSIONS),
  fc.array(fc.record({ name: fc.oneof(fc.constant('eth0'), anyString), mac: fc.option(fc.constantFrom('02:00:00:00:00:09', 'zz'), { nil: undefined }), sandbox: fc.option(fc.constantFrom(LIVE, ''), { nil: undefined }), mtu: fc.option(anyNumber, { nil: undefined }) }), { maxLength: 3 }),
  fc.array(fc.record({ address: fc.oneof(fc.constantFrom('10.1.0.5/24', 'fd00::5/64', 'garbage'), anyString), gateway: fc.option(fc.constantFrom('10.1.0.1', 'x'), { nil: undefined }), interface: fc.option(fc.oneof(fc.nat(5), anyNumber), { nil: undefined }) }), { maxLength: 3 }),
  fc.array(fc.record({ dst: fc.oneof(fc.constantFrom('0.0.0.0/0', '10.2.0.0/16'), anyString), gw: fc.option(fc.constantFrom('10.1.0.1'), { nil: undefined }) }), { maxLength: 2 }),
  fc.option(fc.record({ nameservers: fc.array(anyString, { maxLength: 2 }), domain: fc.option(anyString, { nil: undefined }) }), { nil: undefined }),
  fc.array(mutation, { maxLength: 2 }),
).map(([v, interfaces, ips, routes, dns, muts]) => {
  const r: Record<string, unknown> = { cniVersion: v, interfaces, ips: v.startsWith('0.') ? ips.map((ip) => ({ version: ip.address.includes(':') ? '6' : '4', ...ip })) : ips, routes };
  if (dns) r.dns = dns;
  for (const m of muts) {
    if (m.op === 'set') r[m.key] = m.value;
    else if (m.op === 'del') delete r[m.key];
  }
  return r;
});

const attachments = fc.oneof(
  fc.array(fc.record({ containerID: fc.oneof(fc.constantFrom('c0ffee', 'pod-2'), anyString), ifname: fc.oneof(fc.constantFrom('net1', 'net2'), anyString) }), { maxLength: 5 }),
  fc.array(anyJson, { maxLength: 5 }),
  anyJson,
  fc.integer({ min: 0, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => ({ containerID: `c${i}`, ifname: 'net1' }))),
);

// ---------- properties ----------

interface Case {
  env: NodeJS.ProcessEnv;
  stdin: string;
  /** a valid attachment to create first (so DEL/CHECK/GC have something to act on) */
  setup?: { command: 'ADD'; conf: Record<string, unknown>; containerId: string; ifname: string };
}

function violations(c: Case, r: InprocResult | { code: number; stdout: string; stderr: string; json: any; leakedStdout?: string }): string[] {
  const bad: string[] = [];
  const cmd = c.env.CNI_COMMAND;
  if (r.stdout !== '') {
    if (!r.stdout.endsWith('\n') || r.stdout.slice(0, -1).includes('\n')) bad.push(`stdout is not one line: ${JSON.stringify(r.stdout.slice(0, 200))}`);
    if (r.json === undefined) bad.push(`stdout is not JSON: ${r.stdout.slice(0, 200)}`);
  }
  if (STACK.test(r.stdout)) bad.push('stack trace on stdout');
  if (STACK.test(r.stderr)) bad.push(`stack trace on stderr: ${r.stderr.slice(0, 300)}`);
  if (r.leakedStdout) bad.push(`protocol layer wrote to fd 1: ${r.leakedStdout.slice(0, 100)}`);
  if (r.code === 0) {
    if (cmd === 'ADD' && !(r.json && typeof r.json.cniVersion === 'string' && (r.json.interfaces === undefined || Array.isArray(r.json.interfaces)))) bad.push(`ADD succeeded without a result: ${r.stdout}`);
    if (cmd === 'VERSION' && !Array.isArray(r.json?.supportedVersions)) bad.push(`VERSION without supportedVersions: ${r.stdout}`);
    if (cmd !== 'ADD' && cmd !== 'VERSION' && r.stdout !== '') bad.push(`${cmd} printed something on success: ${r.stdout}`);
  } else if (r.code === 1) {
    const j = r.json;
    if (!j || JSON.stringify(Object.keys(j)) !== '["cniVersion","code","msg","details"]') bad.push(`error JSON has the wrong shape: ${r.stdout.slice(0, 300)}`);
    else {
      if (!CODES.has(j.code)) bad.push(`error code ${j.code} is not a documented code: ${j.msg}`);
      if (j.code === 110) bad.push(`internal error: ${j.msg}`);
      if (typeof j.msg !== 'string' || j.msg === '') bad.push('error without a message');
    }
  } else bad.push(`exit code ${r.code}`);
  return bad;
}

/** Invalid input (codes 1-7) changes nothing; nor does a failed ADD (rolled back), CHECK or STATUS. */
const INVALID_INPUT = new Set([1, 2, 4, 5, 6, 7]);
function mustNotChange(c: Case, r: { code: number; json: any }): boolean {
  if (r.code === 0) return false;
  return INVALID_INPUT.has(r.json?.code) || !['DEL', 'GC'].includes(String(c.env.CNI_COMMAND));
}

/** Link-changing programs may only have targeted the simulated PF netdev (absent from the kernel). */
function linkChanges(r: InprocResult): string[] {
  const out: string[] = [];
  for (const s of r.spawned) {
    if (!/\/(ip|nsenter)$/.test(s.file)) continue;
    const a = s.args.join(' ');
    if (/^(-j|-d|-j -d)?\s*(-d\s+)?(link|addr) show|^-j /.test(a)) continue;
    if (a.includes(`dev ${host.pfNetdev} `) && s.code !== 0) continue;
    out.push(`ran ${s.file} ${a} (exit ${s.code})`);
  }
  return out;
}

async function runCase(name: string, c: Case): Promise<string[]> {
  const st = stat(name);
  st.cases++;
  host.reset();
  if (c.setup) {
    const s = await runRaw(envOf(host, { command: 'ADD', containerId: c.setup.containerId, netns: LIVE, ifname: c.setup.ifname, path: host.plugins }), JSON.stringify(c.setup.conf));
    if (s.code !== 0) return [`setup ADD failed: ${s.stdout}`];
  }
  const before = host.fingerprint();
  const t0 = performance.now();
  const timeout = new Promise<'hang'>((res) => setTimeout(() => res('hang'), 20_000).unref());
  const r = await Promise.race([runRaw(c.env, c.stdin), timeout]);
  st.ms += performance.now() - t0;
  if (r === 'hang') return ['no answer within 20 s (hang)'];
  const bad = violations(c, r);
  if (r.code === 0) st.ok++;
  else if (r.json?.code !== undefined) st.errors.set(r.json.code, (st.errors.get(r.json.code) ?? 0) + 1);
  if (mustNotChange(c, r)) bad.push(...FuzzHost.changes(before, host.fingerprint()).map((d) => `failed call changed the host: ${d}`));
  if (r.code !== 0) bad.push(...linkChanges(r));
  if (bad.length > 0) st.failures++;
  return bad;
}

async function check(name: string, arb: fc.Arbitrary<Case>, numRuns: number): Promise<void> {
  host.reset();
  const sys0 = host.fingerprint(true);
  const res = await fc.check(
    fc.asyncProperty(arb, async (c) => {
      const bad = await runCase(name, c);
      if (bad.length > 0) throw new Error(`${bad.join('\n')}\n  env: ${JSON.stringify({ ...c.env, PATH: undefined })}\n  stdin: ${c.stdin.slice(0, 600)}`);
    }),
    { numRuns, seed: SEED, endOnFailure: true },
  );
  host.reset();
  const sysChanges = FuzzHost.changes(sys0, host.fingerprint(true));
  if (sysChanges.length > 0) {
    stat(name).failures++;
    throw new Error(`${name}: the simulated node changed during the run: ${sysChanges.join('; ')}`);
  }
  if (res.failed) throw new Error(`${name}: counterexample after ${res.numRuns} runs (seed ${SEED}, path ${res.counterexamplePath}):\n${(res.errorInstance as Error | undefined)?.message ?? String(res.errorInstance)}`);
}

const setupFor = (host: FuzzHost, v: string) => ({ command: 'ADD' as const, conf: baseConf(host, v, '0000:00:06.0', false), containerId: 'c0ffee', ifname: 'net1' });

describe('fuzzing', () => {
  beforeAll(() => {
    host = new FuzzHost();
  });
  afterAll(() => {
    host?.cleanup();
  });

  it('netconf on stdin (types, ranges, huge values, deep nesting, unicode, NUL, __proto__) — in-process', async () => {
    const arb = fc.tuple(envArb(host, false), stdinText(host), fc.boolean()).map(([e, stdin, pre]): Case => {
      const v = (() => { try { return String((JSON.parse(stdin) as { cniVersion?: string }).cniVersion ?? '1.1.0'); } catch { return '1.1.0'; } })();
      return { env: envOf(host, e), stdin, setup: pre && e.command !== 'ADD' && (VERSIONS as readonly string[]).includes(v) ? setupFor(host, v) : undefined };
    });
    await check('netconf', arb, runs(4000));
  }, 600_000);

  it('every CNI_* variable and CNI_ARGS — in-process', async () => {
    const arb = fc.tuple(envArb(host, true), fc.constantFrom(...VERSIONS), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }).map((n) => n === 0), fc.boolean()).map(([e, v, d, ipam, pre]): Case => ({
      env: envOf(host, e), stdin: JSON.stringify(baseConf(host, v, host.devices[d] ?? '0000:00:06.0', ipam)), setup: pre ? setupFor(host, v) : undefined,
    }));
    await check('CNI_* env and CNI_ARGS', arb, runs(3000));
  }, 600_000);

  it('prevResult of each version (ADD chained, CHECK, DEL) — in-process', async () => {
    const arb = fc.tuple(fc.constantFrom('ADD', 'CHECK', 'DEL'), fc.constantFrom(...VERSIONS), prevResult, fc.boolean()).map(([cmd, v, prev, pre]): Case => {
      const conf = { ...baseConf(host, v, '0000:00:06.0', false), prevResult: prev };
      return { env: envOf(host, { command: cmd, containerId: 'c0ffee', netns: LIVE, ifname: 'net1', path: host.plugins }), stdin: JSON.stringify(conf), setup: pre && cmd !== 'ADD' ? setupFor(host, v) : undefined };
    });
    await check('prevResult', arb, runs(2000));
  }, 600_000);

  it('GC attachment lists — in-process', async () => {
    const arb = fc.tuple(attachments, fc.constantFrom('cni.dev/valid-attachments', 'cni.dev/attachments'), fc.boolean(), fc.integer({ min: 0, max: 3 }).map((n) => n === 0)).map(([att, key, pre, ipam]): Case => ({
      env: envOf(host, { command: 'GC', path: host.plugins }),
      stdin: JSON.stringify({ ...baseConf(host, '1.1.0', '0000:00:06.0', ipam), [key]: att }),
      setup: pre ? setupFor(host, '1.1.0') : undefined,
    }));
    await check('GC attachments', arb, runs(1500));
  }, 600_000);

  it('the built executable, inside a private network namespace (a mix of all of the above)', async () => {
    const ns = `rel-fuzz-${process.pid}`;
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const nsPath = `/run/netns/${ns}`;
    const nsLinks = () => sh('ip', ['-n', ns, '-j', 'link', 'show']).stdout;
    const links = nsLinks();
    // three independent nodes run their cases side by side; each call runs in the private netns,
    // so any link it created, moved or changed would show there
    const hosts = [new FuzzHost(), new FuzzHost(), new FuzzHost()];
    const st = stat('executable');
    const fails: string[] = [];
    try {
      const worker = async (h: FuzzHost, i: number) => {
        const wrapper = join(h.dir, 'in-netns.sh');
        writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=${nsPath} ${BIN}\n`, { mode: 0o755 });
        const arb = fc.tuple(envArb(h, true), stdinText(h), fc.boolean()).map(([e, stdin, pre]): Case => ({
          env: envOf(h, { ...e, netns: e.netns === LIVE ? nsPath : e.netns }), stdin, setup: pre ? setupFor(h, '1.1.0') : undefined,
        }));
        const cases = fc.sample(arb, { numRuns: Math.ceil(runs(300) / hosts.length), seed: SEED + i });
        h.reset();
        const sys0 = h.fingerprint(true);
        for (const c of cases) {
          if (fails.length > 0) return;
          st.cases++;
          h.reset();
          if (c.setup) await runRaw(envOf(h, { command: 'ADD', containerId: 'c0ffee', netns: LIVE, ifname: 'net1', path: h.plugins }), JSON.stringify(c.setup.conf));
          const before = h.fingerprint();
          const t0 = performance.now();
          const r = await spawnRaw(wrapper, c.env, c.stdin, 30_000);
          st.ms += performance.now() - t0;
          const bad = violations(c, r);
          if (r.signal) bad.push(`killed by ${r.signal} (hang or crash)`);
          if (r.code === 0) st.ok++;
          else if (r.json?.code !== undefined) st.errors.set(r.json.code, (st.errors.get(r.json.code) ?? 0) + 1);
          if (mustNotChange(c, r)) bad.push(...FuzzHost.changes(before, h.fingerprint()).map((d) => `failed call changed the host: ${d}`));
          const now = nsLinks();
          if (now !== links) bad.push(`links in the namespace changed:\n${links}\n→\n${now}`);
          if (bad.length > 0) {
            st.failures++;
            fails.push(`${bad.join('\n')}\n  env: ${JSON.stringify({ ...c.env, PATH: undefined })}\n  stdin: ${c.stdin.slice(0, 600)}`);
          }
        }
        h.reset();
        const sysChanges = FuzzHost.changes(sys0, h.fingerprint(true));
        if (sysChanges.length > 0) fails.push(`the simulated node changed during the run: ${sysChanges.join('; ')}`);
      };
      await Promise.all(hosts.map((h, i) => worker(h, i)));
    } finally {
      sh('ip', ['netns', 'del', ns]);
      for (const h of hosts) h.cleanup();
    }
    expect(fails).toEqual([]);
  }, 900_000);

  afterAll(() => {
    const rows: Row[] = Object.entries(stats).map(([name, s]) => ({
      property: name,
      cases: s.cases,
      'ok results': s.ok,
      'error results (by code)': [...s.errors.entries()].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c}:${n}`).join(' '),
      'ms/case': (s.ms / Math.max(1, s.cases)).toFixed(1),
      failures: s.failures,
    }));
    const total = Object.values(stats);
    rows.push({ property: 'total', cases: total.reduce((n, s) => n + s.cases, 0), 'ok results': total.reduce((n, s) => n + s.ok, 0), 'error results (by code)': '', 'ms/case': '', failures: total.reduce((n, s) => n + s.failures, 0) });
    report('fuzz', `Fuzzing (fast-check seed ${SEED})`, rows, { seed: SEED });
  });
});
