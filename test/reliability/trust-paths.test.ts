/**
 * Issue #13 items 1, 2, 8, 9: device-info paths, logFile, input bounds, truthful errors. Each test
 * runs the built executable on a simulated node (as security.test.ts does) and checks what an
 * operator or a neighbouring pod would notice. The rules are written down in docs/security.md.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CniCall } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { spawnCni, type ExecResult } from './lib/run.js';
import { scratchBase } from './lib/world.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const DEV_A = '0000:00:06.0';
const DEV_B = '0000:00:07.0';
const DI = '/var/run/k8s.cni.cncf.io/devinfo';
/** The name Multus gives the file: <nadNamespace>-<nadName>-<containerID>_<ifName> under devinfo/cni. */
const multusFile = (cid: string, ifname = 'net1', nad = 'default-trust-net') => `${DI}/cni/${nad}-${cid}_${ifname}`;

let dir: string;
let node: SimNode;

beforeEach(() => {
  dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-trust-'));
  node = new SimNode(join(dir, 'node'));
  node.pci(DEV_A, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  node.pci(DEV_B, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'trust-net', type: 'dpdk-cni', deviceID: DEV_A, ...extra });
const run = (c: Omit<CniCall, 'root'>): Promise<ExecResult> => spawnCni({ netns: LIVE, ...c, root: node.root }, 30_000);
const at = (p: string) => join(node.root, p);
const stateFiles = () => {
  const d = at('var/lib/cni/dpdk-cni/attachments');
  return existsSync(d) ? readdirSync(d) : [];
};
const warnings = (stderr: string) =>
  stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);

describe('1. device-info files: only this attachment\'s own file directly in devinfo/cni/', () => {
  it('a pod cannot name another pod\'s device-info file: ADD 7 naming the field, the other file untouched', async () => {
    const a = multusFile('aaaa1111');
    expect((await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: a } }), containerId: 'aaaa1111' })).code).toBe(0);
    const before = readFileSync(at(a), 'utf8');
    const r = await run({ command: 'ADD', conf: conf({ deviceID: DEV_B, runtimeConfig: { CNIDeviceInfoFile: a } }), containerId: 'bbbb2222' });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain('runtimeConfig.CNIDeviceInfoFile');
    expect(r.json.msg).toContain('-bbbb2222_net1');
    expect(readFileSync(at(a), 'utf8')).toBe(before);
    expect(stateFiles()).toEqual(['trust-net@aaaa1111@net1.json']);
    // and B's DEL does not remove A's file either
    expect((await run({ command: 'DEL', conf: conf({ deviceID: DEV_B, runtimeConfig: { CNIDeviceInfoFile: a } }), containerId: 'bbbb2222' })).code).toBe(0);
    expect(readFileSync(at(a), 'utf8')).toBe(before);
  });

  it('a device plugin\'s file under devinfo/dp/ is never rewritten or removed (ADD 7)', async () => {
    const dp = `${DI}/dp/intel.com-sriov_dpdk-${DEV_A}-device.json`;
    const content = '{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:00:06.0","rdma-device":"mlx5_3"}}';
    mkdirSync(at(`${DI}/dp`), { recursive: true });
    writeFileSync(at(dp), content, { mode: 0o444 });
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: dp } }) });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain('runtimeConfig.CNIDeviceInfoFile');
    expect(r.json.msg).toContain(`${DI}/cni/`);
    await run({ command: 'DEL', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: dp } }) });
    expect(readFileSync(at(dp), 'utf8')).toBe(content);
    expect(stateFiles()).toEqual([]);
  });

  it.each([
    [`${DI}/cni/x`, 'no Multus suffix'],
    [`${DI}/cni/sub/default-trust-net-c0ffee_net1`, 'a subdirectory of cni/'],
    [`${DI}/default-trust-net-c0ffee_net1`, 'directly in devinfo/'],
    [`${DI}/cni/c0ffee_net1`, 'no network prefix'],
  ])('CNIDeviceInfoFile %j (%s) → 7, nothing written', async (p) => {
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: p } }) });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain('runtimeConfig.CNIDeviceInfoFile');
    expect(existsSync(at(p))).toBe(false);
    expect(stateFiles()).toEqual([]);
  });

  it('the Multus-shaped name is accepted under /run as well', async () => {
    const p = `/run/k8s.cni.cncf.io/devinfo/cni/kube-system-trust-c0ffee_net1`;
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: p } }) });
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(readFileSync(at(p), 'utf8')).pci['pci-address']).toBe(DEV_A);
  });

  /** ADD, then devinfo/cni is swapped for a symlink to a directory outside holding a file of the same name. */
  async function addThenSwap(): Promise<string> {
    const p = multusFile('c0ffee');
    expect((await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: p } }) })).code).toBe(0);
    renameSync(at(`${DI}/cni`), at(`${DI}/cni.old`));
    mkdirSync(at('etc/victim'), { recursive: true });
    const victim = at(`etc/victim/default-trust-net-c0ffee_net1`);
    writeFileSync(victim, 'precious\n');
    symlinkSync(at('etc/victim'), at(`${DI}/cni`));
    return victim;
  }

  it('DEL after devinfo/cni was replaced by a symlink removes nothing outside, warns, and succeeds', async () => {
    const victim = await addThenSwap();
    const d = await run({ command: 'DEL', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: multusFile('c0ffee') } }) });
    expect([d.code, d.stdout], d.stderr).toEqual([0, '']);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(warnings(d.stderr).map((w) => w.msg).join('\n')).toMatch(/device-info file .* not removed/);
    expect(stateFiles()).toEqual([]);
  });

  it('GC after devinfo/cni was replaced by a symlink removes nothing outside, warns, and succeeds', async () => {
    const victim = await addThenSwap();
    const g = await run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [] }) });
    expect([g.code, g.stdout], g.stderr).toEqual([0, '']);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(warnings(g.stderr).map((w) => w.msg).join('\n')).toMatch(/device-info file .* not removed/);
    expect(stateFiles()).toEqual([]);
  });
});

describe('2. logFile: only a file dpdk-cni created, never a failure', () => {
  beforeEach(() => mkdirSync(at('var/log'), { recursive: true }));

  it('a foreign text log (auth.log) is not appended to; ADD succeeds and warns once on stderr naming the path', async () => {
    const auth = 'Dec  6 10:00:01 node sshd[1]: Accepted publickey for root\n';
    writeFileSync(at('var/log/auth.log'), auth, { mode: 0o600 });
    const r = await run({ command: 'ADD', conf: conf({ logFile: '/var/log/auth.log' }) });
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(at('var/log/auth.log'), 'utf8')).toBe(auth);
    const w = warnings(r.stderr).filter((l) => l.msg.includes('logFile'));
    expect(w).toHaveLength(1);
    expect(w[0]!.msg).toContain('/var/log/auth.log');
    expect(w[0]!.msg).toMatch(/not a dpdk-cni log/);
    expect(r.stderr).toMatch(/"msg":"attached"/);
  });

  it('a binary file (wtmp) is not appended to', async () => {
    const wtmp = Buffer.from([7, 0, 0, 0, 0x41, 0, 0, 0, 0x74, 0x74, 0x79, 0x31, 0, 0, 0, 0, 0x0a, 0, 0, 0]);
    writeFileSync(at('var/log/wtmp'), wtmp, { mode: 0o600 });
    const r = await run({ command: 'ADD', conf: conf({ logFile: '/var/log/wtmp' }) });
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(at('var/log/wtmp'))).toEqual(wtmp);
    expect(warnings(r.stderr).filter((l) => l.msg.includes('/var/log/wtmp'))).toHaveLength(1);
  });

  it('a logFile outside /var/log (sriov-cni\'s /tmp/sriov.log) fails nothing: ADD, CHECK, STATUS, GC, DEL succeed, logging to stderr', async () => {
    const c = conf({ logFile: '/tmp/sriov.log' });
    const add = await run({ command: 'ADD', conf: c });
    expect(add.code, add.stdout).toBe(0);
    const w = warnings(add.stderr).filter((l) => l.msg.includes('logFile'));
    expect(w).toHaveLength(1);
    expect(w[0]!.msg).toContain('/tmp/sriov.log');
    expect(w[0]!.msg).toContain('/var/log');
    for (const command of ['CHECK', 'STATUS', 'GC', 'DEL']) {
      const extra = command === 'CHECK' ? { prevResult: add.json } : command === 'GC' ? { 'cni.dev/valid-attachments': [{ containerID: 'c0ffee', ifname: 'net1' }] } : {};
      const r = await run({ command, conf: { ...c, ...extra } });
      expect([command, r.code, r.stdout]).toEqual([command, 0, '']);
    }
    expect(existsSync(at('tmp/sriov.log'))).toBe(false);
  });

  it('a file dpdk-cni created keeps being appended to, and an empty one (just rotated) is taken', async () => {
    writeFileSync(at('var/log/rotated.log'), '', { mode: 0o600 });
    for (const logFile of ['/var/log/dpdk-cni.log', '/var/log/rotated.log']) {
      expect((await run({ command: 'ADD', conf: conf({ logFile }) })).code).toBe(0);
      const d = await run({ command: 'DEL', conf: conf({ logFile }) });
      expect([d.code, d.stderr]).toEqual([0, '']);
      const lines = readFileSync(at(logFile), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { cmd: string; msg: string });
      expect(lines.map((l) => l.cmd)).toContain('ADD');
      expect(lines.map((l) => l.cmd)).toContain('DEL');
    }
  });
});

describe('8. bounds: stdin at most 1 MiB, at most 80 characters of any value quoted', () => {
  it('a 2 MiB netconf is refused (7) naming the limit; nothing is saved', async () => {
    const r = await run({ command: 'ADD', conf: conf({ pad: 'x'.repeat(2 << 20) }) });
    expect(r.json?.code, r.stdout.slice(0, 500)).toBe(7);
    expect(r.json.msg).toContain('1 MiB');
    expect(stateFiles()).toEqual([]);
  });

  const big = 'Z'.repeat(100_000);
  it.each<[string, Omit<CniCall, 'root'>]>([
    ['deviceID', { command: 'ADD', conf: conf({ deviceID: big }) }],
    ['logFile (refused with a warning, ADD succeeds)', { command: 'ADD', conf: conf({ logFile: big }) }],
    ['CNIDeviceInfoFile', { command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: `/${big}` } }) }],
    ['CNI_ARGS key', { command: 'ADD', conf: conf(), args: `${big}=1` }],
    ['CNI_ARGS MAC', { command: 'ADD', conf: conf(), args: `MAC=${big}` }],
    ['CNI_IFNAME', { command: 'ADD', conf: conf(), ifname: big }],
    ['CNI_CONTAINERID', { command: 'ADD', conf: conf(), containerId: `-${big}` }],
    ['valid CNI_CONTAINERID', { command: 'ADD', conf: conf(), containerId: big }],
    ['valid CNI_CONTAINERID at CHECK', { command: 'CHECK', conf: conf({ prevResult: { cniVersion: '1.1.0' } }), containerId: big }],
    ['CNI_NETNS', { command: 'ADD', conf: conf(), netns: big }],
    ['absolute CNI_NETNS', { command: 'ADD', conf: conf(), netns: `/${big}` }],
    ['ipam.type', { command: 'ADD', conf: conf({ ipam: { type: big } }) }],
    ['CNI_COMMAND', { command: big, conf: conf() }],
  ])('a 100 KB %s is quoted with at most 80 characters in the error and the log', async (what, c) => {
    const r = await run(c);
    if (what.startsWith('logFile')) expect([r.code, r.stderr]).toEqual([0, expect.stringContaining('logFile refused')]);
    else {
      expect(r.code).toBe(1);
      expect(r.json?.msg).toBeTypeOf('string');
    }
    expect(r.stdout.length).toBeLessThan(1000);
    expect(r.stdout).not.toContain('Z'.repeat(81));
    expect(r.stderr).not.toContain('Z'.repeat(81));
    expect(r.stderr.length).toBeLessThan(4000);
  });
});

describe('9. truthful errors', () => {
  it('every configuration violation is reported in one message (schema, name, deviceID, device-info path, CNI_ARGS MAC)', async () => {
    const r = await run({
      command: 'ADD',
      conf: conf({ name: 'bad/name', vlan: 5000, deviceID: 'evil', runtimeConfig: { CNIDeviceInfoFile: '/etc/cron.d/x' } }),
      args: 'IgnoreUnknown=1;MAC=zz',
    });
    expect(r.json?.code, r.stdout).toBe(7);
    for (const part of ['"name"', '"vlan"', 'deviceID "evil"', 'runtimeConfig.CNIDeviceInfoFile', 'CNI_ARGS MAC']) expect(r.json.msg).toContain(part);
    expect(stateFiles()).toEqual([]);
  });

  it('every CNI_* environment violation is reported in one message (4)', async () => {
    const r = await run({ command: 'ADD', conf: conf(), containerId: '../x', ifname: 'a/b', netns: 'relative' });
    expect(r.json?.code, r.stdout).toBe(4);
    for (const part of ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS']) expect(r.json.msg).toContain(part);
  });

  it.each(['[1,2]', '"a string"', '42', 'null'])('valid JSON that is not an object (%s) → 7, not 6', async (stdin) => {
    const r = await run({ command: 'ADD', stdin });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain('JSON object');
  });

  it('a malformed prevResult → 7 naming prevResult, nothing attached', async () => {
    const r = await run({ command: 'ADD', conf: conf({ prevResult: { cniVersion: '1.1.0', interfaces: 'nope' } }) });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain('prevResult');
    expect(stateFiles()).toEqual([]);
  });

  it.each(['all', 'default', 'à', 'a\u000bb', 'net%d'])('CNI_IFNAME %j (refused by the kernel, or renamed by it) → 4, nothing attached', async (ifname) => {
    const r = await run({ command: 'ADD', conf: conf(), ifname });
    expect(r.json?.code, r.stdout).toBe(4);
    expect(r.json.msg).toContain('CNI_IFNAME');
    expect(stateFiles()).toEqual([]);
  });

  it('a DEL with "%" in CNI_IFNAME still goes (an attachment made before the rule is released)', async () => {
    const r = await run({ command: 'DEL', conf: conf(), ifname: 'net%d' });
    expect([r.code, r.stdout], r.stderr).toEqual([0, '']);
  });

  it('configuration and environment errors are logged with the call\'s context, to an acceptable logFile', async () => {
    mkdirSync(at('var/log'), { recursive: true });
    const args = 'K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1';
    const bad = await run({ command: 'ADD', conf: conf({ vlan: 5000, logFile: '/var/log/dpdk-cni.log' }), args });
    expect(bad.json?.code).toBe(7);
    const env = await run({ command: 'ADD', conf: conf({ logFile: '/var/log/dpdk-cni.log' }), args, netns: 'relative' });
    expect(env.json?.code).toBe(4);
    expect([bad.stderr, env.stderr]).toEqual(['', '']);
    const lines = readFileSync(at('var/log/dpdk-cni.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatchObject({ level: 50, cmd: 'ADD', containerID: 'c0ffee', ifname: 'net1', podNamespace: 'ns1', podName: 'pod1', net: 'trust-net' });
    expect(lines[0]!.msg).toContain('vlan');
    expect(lines[1]!.msg).toContain('CNI_NETNS');
    expect(statSync(at('var/log/dpdk-cni.log')).mode & 0o777).toBe(0o600);
  });
});

describe('1. device-info files on a node where /var/run is a symlink to /run (Debian, most distributions)', () => {
  it.each([['the first ADD creates devinfo/cni', false], ['devinfo/cni already exists', true]])('%s: DEL removes the file ADD wrote', async (_what, exists) => {
    mkdirSync(at('run'), { recursive: true });
    rmSync(at('var/run'), { recursive: true, force: true });
    mkdirSync(at('var'), { recursive: true });
    symlinkSync('../run', at('var/run'));
    if (exists) mkdirSync(at('run/k8s.cni.cncf.io/devinfo/cni'), { recursive: true });
    const f = multusFile('run0001');
    const c = conf({ runtimeConfig: { CNIDeviceInfoFile: f } });
    expect((await run({ command: 'ADD', conf: c, containerId: 'run0001' })).code).toBe(0);
    expect(existsSync(at('run/k8s.cni.cncf.io/devinfo/cni/default-trust-net-run0001_net1'))).toBe(true);
    const del = await run({ command: 'DEL', conf: c, containerId: 'run0001' });
    expect([del.code, warnings(del.stderr)], del.stderr).toEqual([0, []]);
    expect(existsSync(at('run/k8s.cni.cncf.io/devinfo/cni/default-trust-net-run0001_net1'))).toBe(false);
  });
});
