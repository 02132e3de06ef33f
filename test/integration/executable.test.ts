import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { cniVars, REPO, tempDir } from '../helpers/cni.js';
import { ensureShipped, SHIPPED } from '../helpers/shipped.js';

/**
 * The shipped single executable (dist/dpdk-cni-linux-x64, the bundle compiled by Bun: build/bun.mjs)
 * run the way a container runtime runs a plugin on a node without Node.js: an empty environment
 * (no PATH), a cwd that is not the repo, and a hostile NODE_OPTIONS inherited from the runtime
 * (Bun reads some of Node's options from it; none may reach dpdk-cni). Bun's own variables and
 * files are planted in bun.test.ts. The same protocol suite runs against the bundle elsewhere;
 * `DPDK_CNI_BIN=dist/dpdk-cni-linux-x64 npx vitest run test/integration` runs all of it against
 * the shipped executable.
 */
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
function exe(vars: Record<string, string>, input = '', args: string[] = []): Run {
  const r = spawnSync(SHIPPED, args, { env: vars, cwd: cwd.path, input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}
function exeAsync(vars: Record<string, string>, input: string): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(SHIPPED, [], { env: vars, cwd: cwd.path });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code, stdout, stderr, json: parse(stdout), pid: p.pid }));
    p.stdin.end(input);
  });
}

beforeAll(() => {
  ensureShipped(); // `npm run build` makes it; rebuilt here only when missing or older than the bundle
}, 300_000);
beforeEach(() => {
  cwd = tempDir('dpdk-cni-exe-cwd-');
});
afterEach(() => cwd.cleanup());

describe('the single executable itself', () => {
  it('runs with no PATH and no node on it, and answers node-looking flags itself', () => {
    expect(exe({}, '', ['version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    // node (and bun) would print their own version for --version: the flag must reach the plugin's CLI
    expect(exe({ NODE_OPTIONS: HOSTILE }, '', ['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });
});

describe('CNI protocol under env -i with a hostile NODE_OPTIONS (and BUN_OPTIONS)', () => {
  it.each([
    HOSTILE,
    '--import /nonexistent-dpdk-cni.mjs',
    '--inspect-brk=127.0.0.1:1', // would wait for a debugger forever if honoured
    '--max-old-space-size=1 --abort-on-uncaught-exception',
    '--print 42',
  ])('VERSION ignores NODE_OPTIONS=%s', (opts) => {
    const r = exe({ CNI_COMMAND: 'VERSION', NODE_OPTIONS: opts }, '{"cniVersion":"0.4.0"}');
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
      NODE_OPTIONS: HOSTILE, BUN_OPTIONS: '--print 1+1', ...extra,
    });
    const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
    beforeEach(() => {
      dir = tempDir('dpdk-cni-exe-node-');
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
      const add = exe(env('ADD'), JSON.stringify(conf));
      expect(add.code, add.stderr).toBe(0);
      expect(add.json).toEqual({ cniVersion: '1.0.0', interfaces: [{ name: 'net1', sandbox: LIVE, pciID: vf, mtu: 9000 }] });
      const info = JSON.parse(readFileSync(join(node.root, devinfo), 'utf8'));
      expect(info).toMatchObject({ type: 'pci', version: '1.1.0', pci: { 'pci-address': vf, 'pf-pci-address': '0000:3b:00.0' } });
      expect(readdirSync(state('attachments'))).toEqual(['dpdk-net@f00d@net1.json']);

      const chk = exe(env('CHECK'), JSON.stringify({ ...conf, prevResult: add.json }));
      expect([chk.code, chk.stdout]).toEqual([0, '']);

      const del = exe(env('DEL'), JSON.stringify({ ...conf, prevResult: add.json }));
      expect([del.code, del.stdout]).toEqual([0, '']);
      expect(readdirSync(state('attachments'))).toEqual([]);
      expect(existsSync(join(node.root, devinfo))).toBe(false);
    });

    it('a second pod asking for the same device while the first lives gets code 102, JSON only', () => {
      const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'ena', type: 'dpdk-cni', deviceID: ENA });
      expect(exe(env('ADD'), conf).code).toBe(0);
      const busy = exe(env('ADD', { CNI_CONTAINERID: 'beef' }), conf);
      expect(busy.code).toBe(1);
      expect(busy.json).toMatchObject({ cniVersion: '1.1.0', code: 102 });
      expect(busy.json.msg).toContain(ENA);
      expect(busy.stdout.trim().split('\n')).toHaveLength(1);
      expect(exe(env('DEL'), conf).code).toBe(0);
    });

    it('errors are one JSON document on stdout with a code, never a stack trace', () => {
      const cases: Array<[string, number, RegExp]> = [
        ['{"cniVersion":"1.0.0","name":"n","deviceID":"' + ENA + '","vlan":5000}', 7, /vlan/],
        ['{"cniVersion":"1.0.0","name":"n","deviceID":"0000:99:00.0"}', 100, /0000:99:00\.0/],
        ['{"cniVersion":"1.0.0","name":"n","deviceID":"' + ENA + '","vlan":10}', 103, /no PF/],
        ['not json', 6, /JSON/],
      ];
      for (const [input, code, msg] of cases) {
        const r = exe(env('ADD'), input);
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
      const add = await exeAsync(env('ADD'), conf);
      expect(add.code, add.stdout).toBe(0);
      expect(add.stderr).toBe('');
      const lines = readFileSync(join(node.root, 'var/log/dpdk-cni.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) {
        expect(l).toMatchObject({ pid: add.pid, hostname: hostname(), cmd: 'ADD', podName: 'dpdk-app', podNamespace: 'default' });
      }
      expect(exe(env('DEL'), conf).code).toBe(0);
    });
  });
});
