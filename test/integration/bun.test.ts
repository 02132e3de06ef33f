import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { REPO, tempDir } from '../helpers/cni.js';
import { ensureShipped, SHIPPED as BUN_EXE } from '../helpers/shipped.js';

/**
 * The shipped executable (dist/dpdk-cni-linux-x64: the bundle compiled by Bun, build/bun.mjs) run
 * as a container runtime runs a plugin: an environment of the runtime's choosing, and a working
 * directory that is not ours. A Bun executable by default loads .env and bunfig.toml from its cwd
 * and obeys BUN_OPTIONS, BUN_BE_BUN and more; none of that may steer dpdk-cni (NODE_OPTIONS and
 * the protocol under a hostile environment are in executable.test.ts). Each test plants one of
 * them and looks for its effect.
 */
const VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
const VERSION_ANSWER = '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n';
const LIVE = `/proc/${process.pid}/ns/net`;

let cwd: { path: string; cleanup: () => void };
let dir: { path: string; cleanup: () => void };

function exe(vars: Record<string, string>, input = '', args: string[] = []) {
  const r = spawnSync(BUN_EXE, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...vars }, cwd: cwd.path, input, encoding: 'utf8', timeout: 20_000 });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}
/** A script that, if anything runs it, leaves a marker file and says so on stdout. */
function plantScript(name: string): string {
  const marker = join(dir.path, `${name}.ran`);
  writeFileSync(join(cwd.path, name), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran'); console.log('PLANTED CODE RAN');\n`);
  return marker;
}

beforeAll(() => {
  ensureShipped();
}, 300_000);
beforeEach(() => {
  cwd = tempDir('dpdk-cni-bun-cwd-');
  dir = tempDir('dpdk-cni-bun-aux-');
});
afterEach(() => {
  cwd.cleanup();
  dir.cleanup();
});

describe('the Bun executable', () => {
  it('is an ELF that answers VERSION and its own CLI with no PATH and no bun on the node', () => {
    expect(readFileSync(BUN_EXE).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(statSync(BUN_EXE).mode & 0o111).toBe(0o111);
    const v = spawnSync(BUN_EXE, [], { env: { CNI_COMMAND: 'VERSION' }, cwd: cwd.path, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
    expect([v.status, v.stdout, v.stderr]).toEqual([0, VERSION_ANSWER, '']);
    const cli = spawnSync(BUN_EXE, ['--version'], { env: {}, cwd: cwd.path, encoding: 'utf8' });
    expect([cli.status, cli.stdout]).toEqual([0, `${VERSION}\n`]);
  });

  it('version --verbose says it is a single executable running on Bun, and which Bun', () => {
    const r = spawnSync(BUN_EXE, ['version', '--verbose'], { env: {}, cwd: cwd.path, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const bunPkg = JSON.parse(readFileSync(join(REPO, 'node_modules/@oven/bun-linux-x64/package.json'), 'utf8')).version as string;
    expect(JSON.parse(r.stdout)).toMatchObject({ version: VERSION, arch: 'x64', singleExecutable: true, bun: bunPkg });
  });
});

// x86-64-v2 (SSE4.2, POPCNT; no AVX, no AVX2): the oldest x64 CPU docs/install.md promises
const QEMU_X64 = '/usr/bin/qemu-x86_64-static';
describe.runIf(existsSync(QEMU_X64))('on a CPU without AVX2 (qemu-user -cpu Nehalem; qemu-user-static)', () => {
  it('answers VERSION and does a DPDK-mode ADD and DEL', () => {
    const node = new SimNode(join(dir.path, 'node'));
    const ENA = '0000:00:06.0';
    node.pci(ENA, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
    const run = (vars: Record<string, string>, input: string) => {
      const r = spawnSync(QEMU_X64, ['-cpu', 'Nehalem', BUN_EXE], { env: vars, cwd: cwd.path, input, encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    expect(run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')).toEqual({ code: 0, stdout: VERSION_ANSWER, stderr: '' });
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'old-cpu', type: 'dpdk-cni', deviceID: ENA });
    const env = (cmd: string) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: 'nehalem', CNI_NETNS: LIVE, CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni', DPDK_CNI_ROOT: node.root });
    const add = run(env('ADD'), conf);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ interfaces: [{ name: 'net1', pciID: ENA }] });
    expect(readdirSync(join(node.root, 'var/lib/cni/dpdk-cni/attachments'))).toEqual(['old-cpu@nehalem@net1.json']);
    expect(run(env('DEL'), conf)).toMatchObject({ code: 0, stdout: '' });
    expect(readdirSync(join(node.root, 'var/lib/cni/dpdk-cni/attachments'))).toEqual([]);
  }, 120_000);
});

describe('nothing in its cwd or environment steers it', () => {
  const DEV = '0000:ee:1f.7'; // a device no real node has: only a fake sysfs holds it

  it('a .env (and .env.local, .env.production) in the cwd naming a fake sysfs does not redirect an ADD', () => {
    const fake = new SimNode(join(dir.path, 'fake'));
    fake.pci(DEV, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
    for (const f of ['.env', '.env.local', '.env.production']) writeFileSync(join(cwd.path, f), `DPDK_CNI_ROOT=${fake.root}\n`);
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'dpdk-cni', deviceID: DEV });
    const r = exe({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'dotenv', CNI_NETNS: LIVE, CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni', NODE_ENV: 'production' }, conf);
    // the real node has no such device: the ADD fails there, and the fake root is never written
    expect(r.json, r.stdout).toMatchObject({ code: 100 });
    expect(r.json.msg).toContain(`/sys/bus/pci/devices/${DEV}`);
    expect(r.json.msg).not.toContain(fake.root);
    expect(existsSync(join(fake.root, 'var/lib/cni/dpdk-cni'))).toBe(false);
  });

  it('a bunfig.toml in the cwd with a preload runs nothing', () => {
    const marker = plantScript('pre.js');
    writeFileSync(join(cwd.path, 'bunfig.toml'), 'preload = ["./pre.js"]\n[run]\npreload = ["./pre.js"]\n');
    const r = exe({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect([r.code, r.stdout, r.stderr]).toEqual([0, VERSION_ANSWER, '']);
    expect(existsSync(marker)).toBe(false);
  });

  it.each([
    ['--print 1+1'],
    ['--preload ./pre.js'],
    ['--require ./pre.js'],
  ])('BUN_OPTIONS=%s prints nothing and runs nothing', (opts) => {
    const marker = plantScript('pre.js');
    const r = exe({ CNI_COMMAND: 'VERSION', BUN_OPTIONS: opts }, '{"cniVersion":"1.0.0"}');
    expect([r.code, r.stdout, r.stderr]).toEqual([0, VERSION_ANSWER, '']);
    expect(existsSync(marker)).toBe(false);
  });

  it('BUN_BE_BUN=1 does not turn it into the bun CLI', () => {
    const r = exe({ BUN_BE_BUN: '1' }, '', ['--version']);
    expect([r.code, r.stdout]).toEqual([0, `${VERSION}\n`]);
    const marker = plantScript('run.js');
    const run = exe({ BUN_BE_BUN: '1' }, '', ['run.js']);
    expect(run.stdout).not.toContain('PLANTED CODE RAN');
    expect(existsSync(marker)).toBe(false);
    const cni = exe({ CNI_COMMAND: 'VERSION', BUN_BE_BUN: '1' }, '{"cniVersion":"1.0.0"}');
    expect([cni.code, cni.stdout]).toEqual([0, VERSION_ANSWER]);
  });

  it('BUN_BYTECODE_ORDER_OUT and friends do not make it write files where they say', () => {
    const files = ['BUN_BYTECODE_ORDER_OUT', 'BUN_BYTECODE_DIGEST_OUT', 'BUN_BYTECODE_ORDER_NAMES_OUT', 'BUN_TRACE'].map((v) => [v, join(dir.path, `${v}.out`)] as const);
    const r = exe({ CNI_COMMAND: 'VERSION', ...Object.fromEntries(files) }, '{"cniVersion":"1.0.0"}');
    expect([r.code, r.stdout, r.stderr]).toEqual([0, VERSION_ANSWER, '']);
    expect(readdirSync(dir.path)).toEqual([]);
  });
});

describe('install from the Bun executable', () => {
  it('copies the executable itself (not the virtual script path), then leaves an identical copy alone', () => {
    const target = join(dir.path, 'bin');
    mkdirSync(target);
    const first = exe({}, '', ['install', '--target', target]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^dpdk-cni install: installed .*\/dpdk-cni \(.*version \d+\.\d+\.\d+.*\) from /);
    const dest = join(target, 'dpdk-cni');
    expect(readFileSync(dest).equals(readFileSync(BUN_EXE))).toBe(true);
    expect(statSync(dest).mode & 0o7777).toBe(0o755);
    const ino = statSync(dest).ino;
    const again = exe({}, '', ['install', '--target', target]);
    expect([again.code, again.stdout]).toEqual([0, expect.stringMatching(/up to date/)]);
    expect(statSync(dest).ino).toBe(ino);
    expect(exe({}, '', ['install', '--check', '--target', target]).code).toBe(0);
    // the installed copy is a working plugin
    const v = spawnSync(dest, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
    expect([v.status, v.stdout]).toEqual([0, VERSION_ANSWER]);
    expect(readdirSync(target)).toEqual(['dpdk-cni']);
  });
});
