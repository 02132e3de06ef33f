import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cniVars, REPO, tempDir } from '../helpers/cni.js';
import { ensureSea, SEA } from '../helpers/sea.js';

/**
 * The single executable (dist/dpdk-cni-linux-x64, Node 24 SEA) run the way a container runtime
 * runs a plugin on a node without Node.js: an empty environment (no PATH), a cwd that is not the
 * repo, and a hostile NODE_OPTIONS inherited from the runtime. The same protocol suite runs against
 * the bundle elsewhere; `DPDK_CNI_BIN=dist/dpdk-cni-linux-x64 npx vitest run test/integration`
 * runs all of it against the single executable.
 */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
const HOSTILE = '--require /nonexistent-dpdk-cni.js';
const LIVE = `/proc/${process.pid}/ns/net`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
  pid?: number;
}
function parse(s: string): any {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

let cwd: { path: string; cleanup: () => void };

/** `env -i [vars] dist/dpdk-cni-linux-x64 [args]` from another directory. */
function sea(vars: Record<string, string>, input = '', args: string[] = []): Run {
  const r = spawnSync(SEA, args, { env: vars, cwd: cwd.path, input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}
function seaAsync(vars: Record<string, string>, input: string): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(SEA, [], { env: vars, cwd: cwd.path });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code, stdout, stderr, json: parse(stdout), pid: p.pid }));
    p.stdin.end(input);
  });
}

beforeAll(() => {
  ensureSea(); // `npm run build` makes it; rebuilt here only when missing or older than the bundle
}, 300_000);
beforeEach(() => {
  cwd = tempDir('dpdk-cni-sea-cwd-');
});
afterEach(() => cwd.cleanup());

describe('the single executable itself', () => {
  it('is a stripped ELF with the SEA blob injected (fuse blown), not a script', () => {
    const bin = readFileSync(SEA);
    expect(bin.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(bin.includes(`${FUSE}:1`)).toBe(true);
    expect(bin.includes(`${FUSE}:0`)).toBe(false);
    const sections = spawnSync('readelf', ['-SW', SEA], { encoding: 'utf8' });
    expect(sections.status).toBe(0);
    expect(sections.stdout).not.toMatch(/\.symtab|\.debug_info/);
    expect(statSync(SEA).mode & 0o111).toBe(0o111);
  });

  it('runs with no PATH and no node on it, and answers node-looking flags itself', () => {
    expect(sea({}, '', ['version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    // node would print v24.x for --version: the flag must reach the plugin's CLI instead
    expect(sea({ NODE_OPTIONS: HOSTILE }, '', ['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it('ships the CNI code with a warm V8 code cache that the embedded node accepts, the CLI apart', () => {
    const r = sea({}, '', ['version', '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ version: VERSION, arch: 'x64', singleExecutable: true, codeCache: 'accepted' });
    expect(r.json.node).toMatch(/^v24\./);
    // made by running the CNI commands, not only compiling the top level (that would be ~50 KB)
    expect(r.json.codeCacheBytes).toBeGreaterThan(120_000);
  });
});

describe('CNI protocol under env -i with a hostile NODE_OPTIONS', () => {
  it.each([
    HOSTILE,
    '--import /nonexistent-dpdk-cni.mjs',
    '--inspect-brk=127.0.0.1:1', // would wait for a debugger forever if honoured
    '--max-old-space-size=1 --abort-on-uncaught-exception',
    '--print 42',
  ])('VERSION ignores NODE_OPTIONS=%s', (opts) => {
    const r = sea({ CNI_COMMAND: 'VERSION', NODE_OPTIONS: opts }, '{"cniVersion":"0.4.0"}');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe('{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
  });

  describe('on a simulated node', () => {
    let dir: { path: string; cleanup: () => void };
    let node: SimNode;
    let vf: string;
    const ENA = '0000:00:06.0';
    const env = (command: string, extra: Record<string, string> = {}) => ({
      ...cniVars({
        command, containerId: 'f00d', netns: LIVE, ifname: 'net1', path: '/opt/cni/bin:/usr/lib/cni',
        args: 'IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=dpdk-app', root: node.root,
      }),
      NODE_OPTIONS: HOSTILE, ...extra,
    });
    const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
    beforeEach(() => {
      dir = tempDir('dpdk-cni-sea-node-');
      node = new SimNode(dir.path);
      node.pci(ENA, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
      vf = node.sriovPf('0000:3b:00.0', { netdev: 'ens1f0', numVfs: 2, mtu: 9000 })[1]!;
    });
    afterEach(() => dir.cleanup());

    it('ADD / CHECK / DEL of a vfio-pci VF as Multus sends them, with device-info', () => {
      const devinfo = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-dpdk-net-f00d_net1';
      const conf = {
        cniVersion: '1.0.0', name: 'dpdk-net', type: 'dpdk-cni', deviceID: vf, pciBusID: vf,
        capabilities: { deviceID: true, CNIDeviceInfoFile: true },
        runtimeConfig: { deviceID: vf, CNIDeviceInfoFile: devinfo },
      };
      const add = sea(env('ADD'), JSON.stringify(conf));
      expect(add.code, add.stderr).toBe(0);
      expect(add.json).toEqual({ cniVersion: '1.0.0', interfaces: [{ name: 'net1', sandbox: LIVE, pciID: vf, mtu: 9000 }] });
      const info = JSON.parse(readFileSync(join(node.root, devinfo), 'utf8'));
      expect(info).toMatchObject({ type: 'pci', version: '1.1.0', pci: { 'pci-address': vf, 'pf-pci-address': '0000:3b:00.0' } });
      expect(readdirSync(state('attachments'))).toEqual(['dpdk-net@f00d@net1.json']);

      const chk = sea(env('CHECK'), JSON.stringify({ ...conf, prevResult: add.json }));
      expect([chk.code, chk.stdout]).toEqual([0, '']);

      const del = sea(env('DEL'), JSON.stringify({ ...conf, prevResult: add.json }));
      expect([del.code, del.stdout]).toEqual([0, '']);
      expect(readdirSync(state('attachments'))).toEqual([]);
      expect(existsSync(join(node.root, devinfo))).toBe(false);
    });

    it('a second pod asking for the same device while the first lives gets code 102, JSON only', () => {
      const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'ena', type: 'dpdk-cni', deviceID: ENA });
      expect(sea(env('ADD'), conf).code).toBe(0);
      const busy = sea(env('ADD', { CNI_CONTAINERID: 'beef' }), conf);
      expect(busy.code).toBe(1);
      expect(busy.json).toMatchObject({ cniVersion: '1.1.0', code: 102 });
      expect(busy.json.msg).toContain(ENA);
      expect(busy.stdout.trim().split('\n')).toHaveLength(1);
      expect(sea(env('DEL'), conf).code).toBe(0);
    });

    it('errors are one JSON document on stdout with a code, never a stack trace', () => {
      const cases: Array<[string, number, RegExp]> = [
        ['{"cniVersion":"1.0.0","name":"n","deviceID":"' + ENA + '","vlan":5000}', 7, /vlan/],
        ['{"cniVersion":"1.0.0","name":"n","deviceID":"0000:99:00.0"}', 100, /0000:99:00\.0/],
        ['{"cniVersion":"1.0.0","name":"n","deviceID":"' + ENA + '","vlan":10}', 103, /no PF/],
        ['not json', 6, /JSON/],
      ];
      for (const [input, code, msg] of cases) {
        const r = sea(env('ADD'), input);
        expect(r.code, input).toBe(1);
        expect(r.json, r.stdout).toMatchObject({ code });
        expect(r.json.msg).toMatch(msg);
        expect(r.stdout).not.toMatch(/\n\s+at /);
        expect(r.stdout.trim().split('\n')).toHaveLength(1);
      }
      expect(existsSync(state('attachments')) ? readdirSync(state('attachments')) : []).toEqual([]);
    });

    it('reads its environment at run time (logFile lines carry this process\'s pid and host)', async () => {
      const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'logged', deviceID: ENA, logFile: '/var/log/dpdk-cni.log', logLevel: 'debug' });
      const add = await seaAsync(env('ADD'), conf);
      expect(add.code, add.stdout).toBe(0);
      expect(add.stderr).toBe('');
      const lines = readFileSync(join(node.root, 'var/log/dpdk-cni.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) {
        expect(l).toMatchObject({ pid: add.pid, hostname: hostname(), cmd: 'ADD', podName: 'dpdk-app', podNamespace: 'default' });
      }
      expect(sea(env('DEL'), conf).code).toBe(0);
    });
  });
});

describe('install from the single executable', () => {
  let target: { path: string; cleanup: () => void };
  beforeEach(() => {
    target = tempDir('dpdk-cni-sea-bin-');
  });
  afterAll(() => target?.cleanup());

  it('copies the executable itself (not a node, not a script), then leaves an identical copy alone', () => {
    const first = sea({}, '', ['install', '--target', target.path]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/installed .*dpdk-cni/);
    const dest = join(target.path, 'dpdk-cni');
    expect(readFileSync(dest).equals(readFileSync(SEA))).toBe(true);
    expect(statSync(dest).mode & 0o777).toBe(0o755);
    const ino = statSync(dest).ino;
    const again = sea({}, '', ['install', '--target', target.path]);
    expect(again.stdout).toMatch(/up to date/);
    expect(statSync(dest).ino).toBe(ino);
    // the installed copy is a working plugin
    const v = spawnSync(dest, [], { env: { CNI_COMMAND: 'VERSION', NODE_OPTIONS: HOSTILE }, input: '', encoding: 'utf8' });
    expect([v.status, JSON.parse(v.stdout).cniVersion]).toEqual([0, '1.1.0']);
    target.cleanup();
  });
});
