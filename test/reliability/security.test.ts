/**
 * Part 3 — untrusted configuration. Every path and name that comes from the netconf (written by
 * namespace users: a NetworkAttachmentDefinition is a namespaced object), CNI_ARGS or runtimeConfig
 * is hostile, and the plugin runs as root. Each test below is an attack that would work if the rule
 * it checks were missing (the precondition is shown where it is not obvious), run against the built
 * executable on a simulated node. The rules are written down in docs/security.md.
 */
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CNI_PLUGINS, type CniCall } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { classify } from '../../src/device/classify.js';
import { makeHost } from '../../src/sys/host.js';
import { report, type Row } from './lib/report.js';
import { BIN, spawnCni, spawnRaw, type ExecResult } from './lib/run.js';
import { cniEnv } from './lib/inproc.js';
import { scratchBase, sh, World } from './lib/world.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const SECRET = 'root:$6$secret-hash:19000:0:99999:7:::';
const root = process.getuid?.() === 0;

let dir: string;
let node: SimNode;
const rules: Row[] = [];
function rule(area: string, attack: string, outcome: string): void {
  rules.push({ area, attack, 'outcome (checked)': outcome });
}

beforeEach(() => {
  dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-sec-'));
  node = new SimNode(join(dir, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  // a root-only file standing in for /etc/shadow
  mkdirSync(join(node.root, 'etc'), { recursive: true });
  writeFileSync(join(node.root, 'etc/shadow'), `${SECRET}\n`, { mode: 0o600 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'sec-net', type: 'dpdk-cni', deviceID: PFLESS, ...extra });
const run = (c: Omit<CniCall, 'root'>): Promise<ExecResult> => spawnCni({ netns: LIVE, ...c, root: node.root }, 20_000);
const shadow = () => readFileSync(join(node.root, 'etc/shadow'), 'utf8');
const at = (p: string) => join(node.root, p);
const stateFiles = () => {
  const d = at('var/lib/cni/dpdk-cni/attachments');
  return existsSync(d) ? readdirSync(d) : [];
};
function refused(r: ExecResult, code: number, ...parts: string[]): void {
  expect(r.signal, r.stderr).toBeNull();
  expect(r.json?.code, r.stdout + r.stderr).toBe(code);
  for (const p of parts) expect(r.json.msg).toContain(p);
  expect(stateFiles()).toEqual([]);
}

describe('logFile: confined to /var/log, never through a link; a refused one fails nothing', () => {
  /** ADD succeeds, logging to stderr after one warning naming the logFile and why. */
  async function logRefused(logFile: string, ...parts: string[]): Promise<ExecResult> {
    const r = await run({ command: 'ADD', conf: conf({ logFile }) });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stdout).toBe(0);
    const w = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40 && l.msg.includes('logFile refused')).map((l) => l.msg);
    expect(w, r.stderr).toHaveLength(1);
    for (const p of parts) expect(w[0]).toContain(p);
    expect(r.stderr).toMatch(/"msg":"attached"/);
    return r;
  }

  it('a symlink at the log path (to /etc/shadow) is refused and the target is not written; ADD and DEL warn and succeed', async () => {
    mkdirSync(at('var/log'), { recursive: true });
    symlinkSync(at('etc/shadow'), at('var/log/dpdk-cni.log'));
    await logRefused('/var/log/dpdk-cni.log', 'symbolic link');
    const d = await run({ command: 'DEL', conf: conf({ logFile: '/var/log/dpdk-cni.log' }) });
    expect([d.code, d.stdout]).toEqual([0, '']);
    expect(d.stderr).toMatch(/logFile refused/);
    expect(shadow()).toBe(`${SECRET}\n`);
    rule('logFile', 'symlink at the path → /etc/shadow', 'ADD 0 and DEL 0 with a warning, target unchanged');
  });

  it('a symlinked directory below /var/log is refused and nothing is created where it points', async () => {
    mkdirSync(at('var/log'), { recursive: true });
    symlinkSync(at('etc'), at('var/log/evil'));
    await logRefused('/var/log/evil/cron.log', 'resolves outside /var/log');
    expect(existsSync(at('etc/cron.log'))).toBe(false);
    rule('logFile', 'symlinked directory /var/log/evil → /etc', 'refused (ADD 0, warning), nothing created in /etc');
  });

  it('a hard link at the log path (another name of /etc/shadow) is refused; appending would have changed the target', async () => {
    mkdirSync(at('var/log'), { recursive: true });
    linkSync(at('etc/shadow'), at('var/log/h.log'));
    expect(statSync(at('var/log/h.log')).ino).toBe(statSync(at('etc/shadow')).ino); // same file: an append would land in it
    await logRefused('/var/log/h.log', 'hard links');
    expect(shadow()).toBe(`${SECRET}\n`);
    rule('logFile', 'hard link to /etc/shadow', 'refused (ADD 0, warning), target unchanged');
  });

  it('a FIFO at the log path is refused at once instead of blocking the plugin', async () => {
    mkdirSync(at('var/log'), { recursive: true });
    expect(sh('mkfifo', [at('var/log/fifo.log')]).code).toBe(0);
    const r = await logRefused('/var/log/fifo.log', 'not a regular file');
    expect(r.ms).toBeLessThan(15_000);
    rule('logFile', 'FIFO at the path', 'refused at once (ADD 0, warning, no hang)');
  });

  it.each([
    ['/var/log/a\u0000/x.log', 'NUL byte'],
    ['/var/log/../../etc/x', '".." segments'],
    ['/var/log/./x', '".." segments'],
    [`/var/log/${'d/'.repeat(2100)}x.log`, 'longer than 4095 bytes'],
    [`/var/log/${'n'.repeat(300)}.log`, 'longer than 255 bytes'],
    ['/var/log', 'must be a file under /var/log'],
    ['var/log/x.log', 'absolute path'],
  ])('logFile %j → refused (%s), ADD succeeds', async (logFile, msg) => {
    await logRefused(logFile, msg);
    rule('logFile', `path ${JSON.stringify(logFile.length > 40 ? `${logFile.slice(0, 30)}…(${logFile.length} bytes)` : logFile)}`, `refused (${msg}), ADD 0 with a warning`);
  });

  it('a permitted path gets its directories created (0755) and the file (0600), lines appended', async () => {
    const r = await run({ command: 'ADD', conf: conf({ logFile: '/var/log/dpdk-cni/sub/x.log' }) });
    expect(r.code, r.stdout).toBe(0);
    expect(statSync(at('var/log/dpdk-cni/sub')).mode & 0o777).toBe(0o755);
    expect(statSync(at('var/log/dpdk-cni/sub/x.log')).mode & 0o777).toBe(0o600);
    expect(readFileSync(at('var/log/dpdk-cni/sub/x.log'), 'utf8')).toMatch(/"msg":"attached"/);
  });
});

describe('runtimeConfig.CNIDeviceInfoFile: confined to the devinfo directories, never through a link', () => {
  const DI = '/var/run/k8s.cni.cncf.io/devinfo';
  const failingIpam = { ipam: { type: 'host-local', subnet: 'not-a-subnet' } };
  const allFiles = (d: string): string[] => (existsSync(d) ? readdirSync(d, { recursive: true }).map((f) => join(d, String(f))).filter((f) => lstatSync(f).isFile()) : []);

  it('a symlink at the path (to /etc/shadow) is refused (7) before anything: the secret is never copied into a 0444 device-info file', async () => {
    mkdirSync(at(`${DI}/cni`), { recursive: true });
    symlinkSync(at('etc/shadow'), at(`${DI}/cni/sec-net-c0ffee_net1`));
    // Without the rule: ADD reads the "previous" content through the link, the IPAM failure rolls
    // back and writes it back as a regular 0444 file, which Multus publishes in network-status.
    const r = await run({ command: 'ADD', conf: conf({ ...failingIpam, runtimeConfig: { CNIDeviceInfoFile: `${DI}/cni/sec-net-c0ffee_net1` } }) });
    refused(r, 7, 'CNIDeviceInfoFile', 'symbolic link');
    expect(lstatSync(at(`${DI}/cni/sec-net-c0ffee_net1`)).isSymbolicLink()).toBe(true);
    for (const f of allFiles(at('/var/run'))) expect(readFileSync(f, 'utf8')).not.toContain('secret-hash');
    for (const f of allFiles(at('/var/lib'))) expect(readFileSync(f, 'utf8')).not.toContain('secret-hash');
    rule('device-info', 'symlink at the path → /etc/shadow, then a failing ADD', 'ADD 7 before any change; secret never copied');
  });

  it('a hard link at the path is refused (7)', async () => {
    mkdirSync(at(`${DI}/cni`), { recursive: true });
    linkSync(at('etc/shadow'), at(`${DI}/cni/default-sec-net-c0ffee_net1`));
    const r = await run({ command: 'ADD', conf: conf({ ...failingIpam, runtimeConfig: { CNIDeviceInfoFile: `${DI}/cni/default-sec-net-c0ffee_net1` } }) });
    refused(r, 7, 'CNIDeviceInfoFile', 'hard links');
    expect(shadow()).toBe(`${SECRET}\n`);
    rule('device-info', 'hard link to /etc/shadow', 'ADD 7');
  });

  it('a FIFO at the path is refused (7) instead of blocking ADD forever with the device lock held', async () => {
    mkdirSync(at(`${DI}/cni`), { recursive: true });
    expect(sh('mkfifo', [at(`${DI}/cni/default-sec-net-c0ffee_net1`)]).code).toBe(0);
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: `${DI}/cni/default-sec-net-c0ffee_net1` } }) });
    refused(r, 7, 'CNIDeviceInfoFile', 'not a regular file');
    expect(r.ms).toBeLessThan(15_000);
    rule('device-info', 'FIFO at the path', 'ADD 7 at once (no hang, lock released)');
  });

  it('a symlinked directory leading outside is refused (7); nothing is written where it points', async () => {
    mkdirSync(at(DI), { recursive: true });
    symlinkSync(at('etc'), at(`${DI}/cni`));
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: `${DI}/cni/default-sec-net-c0ffee_net1` } }) });
    refused(r, 7, 'CNIDeviceInfoFile', 'resolves outside');
    expect(readdirSync(at('etc'))).toEqual(['shadow']);
    rule('device-info', 'symlinked directory devinfo/cni → /etc', 'ADD 7, nothing written in /etc');
  });

  it('a symlinked directory that stays inside is refused too (7): below the base only real directories', async () => {
    mkdirSync(at(`${DI}/dp`), { recursive: true });
    symlinkSync(at(`${DI}/dp`), at(`${DI}/cni`));
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: `${DI}/cni/default-sec-net-c0ffee_net1` } }) });
    refused(r, 7, 'CNIDeviceInfoFile', '"cni" is a symbolic link');
    expect(readdirSync(at(`${DI}/dp`))).toEqual([]);
    rule('device-info', 'symlinked directory inside the base (cni → dp)', 'ADD 7, the device plugin\'s directory untouched');
  });

  it('a directory planted to be swapped for a symlink after the check is re-checked when created', async () => {
    // /var/run is a symlink to /run on many nodes: the base may be reached through symlinks
    mkdirSync(at('run/k8s.cni.cncf.io/devinfo'), { recursive: true });
    mkdirSync(at('var'), { recursive: true });
    symlinkSync(at('run'), at('var/run'));
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: `${DI}/cni/default-sec-net-c0ffee_net1` } }) });
    expect(r.code, r.stdout).toBe(0);
    expect(statSync(at('run/k8s.cni.cncf.io/devinfo/cni/default-sec-net-c0ffee_net1')).mode & 0o777).toBe(0o444);
    rule('device-info', 'base reached through /var/run → /run (a node\'s own symlink)', 'accepted; file 0444 under the real base');
  });

  it.each([
    ['/etc/cron.d/evil', 'must be a file under'],
    [`${DI}/a\u0000b`, 'NUL byte'],
    [`${DI}/../../../etc/x`, '".." segments'],
    [`${DI}/${'x'.repeat(256)}`, 'longer than 255 bytes'],
  ])('CNIDeviceInfoFile %j → 7 (%s)', async (p, msg) => {
    const r = await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: p } }) });
    refused(r, 7, 'CNIDeviceInfoFile', msg);
    rule('device-info', `path ${JSON.stringify(p.length > 50 ? `${p.slice(0, 40)}…` : p)}`, `ADD 7 (${msg})`);
  });
});

describe('which executable runs: ipam.type in CNI_PATH only, CNI_PATH entries only root can change', () => {
  let bin: string;
  let marker: string;
  /** A fake IPAM plugin that proves it ran (the attack's payload) and then acts like host-local. */
  function plant(d: string, name = 'host-local', mode = 0o755): string {
    mkdirSync(d, { recursive: true });
    const f = join(d, name);
    writeFileSync(f, `#!/bin/sh\necho pwned >> '${marker}'\nexec '${CNI_PLUGINS}/host-local' "$@"\n`, { mode });
    chmodSync(f, mode);
    return f;
  }
  const ipamConf = () => conf({ ipam: { type: 'host-local', subnet: '10.211.0.0/24', dataDir: at('ipam') } });
  beforeEach(() => {
    bin = join(dir, 'bins');
    marker = join(dir, 'PWNED');
  });

  it('the planted plugin works when run (precondition of every attack below)', () => {
    const f = plant(join(bin, 'check'));
    expect(sh(f, []).code).not.toBe(-1);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
  });

  it.each(['../../bins/ww/host-local', '/bin/sh', 'a/b', '..'])('ipam.type %j (not a plain file name) → 7, nothing run', async (type) => {
    plant(join(bin, 'ww'));
    const r = await run({ command: 'ADD', conf: conf({ ipam: { type } }), path: CNI_PLUGINS });
    refused(r, 7, 'ipam.type');
    expect(existsSync(marker)).toBe(false);
    rule('ipam.type', `${JSON.stringify(type)}`, 'ADD 7, nothing run');
  });

  it('a world-writable CNI_PATH entry is not searched: the plugin planted there does not run (4 when it is the only one)', async () => {
    const ww = join(bin, 'ww');
    plant(ww);
    chmodSync(ww, 0o777);
    const r = await run({ command: 'ADD', conf: ipamConf(), path: ww });
    refused(r, 4, 'IPAM plugin "host-local"', 'writable by everyone');
    expect(existsSync(marker)).toBe(false);
    const ok = await run({ command: 'ADD', conf: ipamConf(), path: `${ww}:${CNI_PLUGINS}` });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.json.ips[0].address).toBe('10.211.0.2/24');
    expect(existsSync(marker)).toBe(false);
    rule('CNI_PATH', 'world-writable directory first in CNI_PATH holding host-local', 'skipped (4 if nowhere else); the real one runs');
  });

  it.each([
    ['a group-writable directory of a non-root group', (d: string, f: string) => { chmodSync(d, 0o775); chownSync(d, 0, 4242); void f; }, 'writable by group 4242'],
    ['a directory owned by another user', (d: string, f: string) => { chownSync(d, 65534, 65534); void f; }, 'owned by uid 65534'],
    ['a world-writable plugin file', (_d: string, f: string) => chmodSync(f, 0o777), 'writable by everyone'],
    ['a plugin file owned by another user', (_d: string, f: string) => chownSync(f, 65534, 65534), 'owned by uid 65534'],
    ['a world-writable directory above the entry (not sticky)', (d: string, f: string) => { chmodSync(dirname(d), 0o777); void f; }, 'writable by everyone'],
  ])('%s → the plugin is not run (4)', async (what, weaken, msg) => {
    const d = join(bin, 'p', 'dir');
    const f = plant(d);
    weaken(d, f);
    const r = await run({ command: 'ADD', conf: ipamConf(), path: d });
    refused(r, 4, msg);
    expect(existsSync(marker)).toBe(false);
    rule('CNI_PATH', what, `not run (4: ${msg})`);
  });

  it('a safe-looking entry whose plugin is a symlink into a world-writable directory → not run (4)', async () => {
    const ww = join(bin, 'ww');
    const f = plant(ww);
    chmodSync(ww, 0o777);
    mkdirSync(join(bin, 'safe'), { recursive: true });
    symlinkSync(f, join(bin, 'safe/host-local'));
    const r = await run({ command: 'ADD', conf: ipamConf(), path: join(bin, 'safe') });
    refused(r, 4, 'writable by everyone');
    expect(existsSync(marker)).toBe(false);
    rule('CNI_PATH', 'root-owned entry, plugin symlinked into a world-writable directory', 'not run (4)');
  });

  it('a relative CNI_PATH entry is ignored: a plugin in the runtime\'s working directory does not run', async () => {
    plant(join(bin, 'cwd'));
    const env = cniEnv({ command: 'ADD', netns: LIVE, root: node.root, path: '.:bin' });
    const r = await spawnRaw(BIN, env, JSON.stringify(ipamConf()), 20_000, join(bin, 'cwd'));
    refused(r, 106, 'not found in CNI_PATH');
    expect(existsSync(marker)).toBe(false);
    rule('CNI_PATH', 'relative entries "." and "bin" with host-local in the working directory', 'ignored (106 not found)');
  });

  it('a root-owned entry below a sticky world-writable directory (like /tmp) is accepted', async () => {
    expect(statSync(scratchBase()).mode & 0o1002).toBe(0o1002); // /dev/shm or /tmp: sticky, world-writable
    const d = join(bin, 'ok');
    plant(d);
    const r = await run({ command: 'ADD', conf: ipamConf(), path: d });
    expect(r.code, r.stdout).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });
});

describe('which device is touched: a full PCI address only; vdpaDevice a plain name', () => {
  it('a deviceID that walks out of /sys/bus/pci/devices is refused (7) although the target looks like a DPDK device', async () => {
    symlinkSync(node.realDir(PFLESS), at('sys/bus/pci/devices/evil'));
    // precondition: were the name used as given, sysfs would classify it as an attachable device
    expect(classify(makeHost({ DPDK_CNI_ROOT: node.root }), 'evil').mode).toBe('dpdk');
    for (const [field, id] of [['deviceID', `${PFLESS}/../evil`], ['deviceID', 'evil'], ['pciBusID', '../devices/evil'], ['runtimeConfig.deviceID', './evil']] as const) {
      const c = field === 'runtimeConfig.deviceID' ? conf({ deviceID: undefined, runtimeConfig: { deviceID: id } }) : conf({ deviceID: undefined, [field]: id });
      const r = await run({ command: 'ADD', conf: c });
      refused(r, 7, `${field} ${JSON.stringify(id)} is not a PCI address`);
    }
    rule('device', 'deviceID / pciBusID / runtimeConfig.deviceID walking out of sysfs', 'ADD 7 naming the field');
  });

  it.each(['../vdpa0', 'a/b', 'physfn', 'driver', 'virtfn0', 'subsystem', '.hidden'])('vdpaDevice %j never selects anything but a vDPA device', async (name) => {
    const vfs = node.sriovPf('0000:65:00.0', { netdev: 'fzsec0', numVfs: 1, offset: 2, vfDriver: 'mlx5_core' });
    node.vdpa(vfs[0]!, 'vdpa0', 'vhost_vdpa', { index: 0 });
    for (const pci of [vfs[0]!, '0000:65:00.0']) {
      const r = await run({ command: 'ADD', conf: conf({ deviceID: pci, vdpaDevice: name }) });
      expect(r.code, r.stdout).toBe(1);
      expect([7, 100, 101]).toContain(r.json.code);
      expect(stateFiles()).toEqual([]);
    }
    rule('device', `vdpaDevice ${JSON.stringify(name)}`, 'refused (7/100/101), nothing attached');
  });
});

describe('names that end up in state file names stay inside the state directory', () => {
  it.each([
    ['ifname', { ifname: '..a' }],
    ['ifname', { ifname: 'a..b' }],
    ['ifname', { ifname: 'a#b' }],
    ['containerID', { containerId: 'a..' }],
    ['containerID', { containerId: 'A.b-c_d' }],
  ])('%s %o', async (_what, c) => {
    const r = await run({ command: 'ADD', conf: conf(), ...c });
    expect(r.code, r.stdout).toBe(0);
    const d = at('var/lib/cni/dpdk-cni/attachments');
    const files = readdirSync(d);
    expect(files).toHaveLength(1);
    expect(dirname(realpathSync(join(d, files[0]!)))).toBe(realpathSync(d));
    expect((await run({ command: 'DEL', conf: conf(), ...c })).code).toBe(0);
    expect(readdirSync(d)).toEqual([]);
    rule('state names', `${Object.keys(c)[0]} ${JSON.stringify(Object.values(c)[0])}`, 'state file directly inside attachments/, removed by DEL');
  });

  it.each([
    ['ifname "."', { ifname: '.' }, 4],
    ['ifname ".."', { ifname: '..' }, 4],
    ['ifname with "/"', { ifname: 'a/b' }, 4],
    // "%" would also be a percent-encoding look-alike in the state file name; the kernel reads it
    // as a numbering pattern, so ADD refuses it
    ['ifname "%2e%2e"', { ifname: '%2e%2e' }, 4],
    ['ifname "a%2Fb"', { ifname: 'a%2Fb' }, 4],
    ['containerID starting with "."', { containerId: '..' }, 4],
    ['containerID with "/"', { containerId: 'a/../../x' }, 4],
  ])('%s → 4, nothing written', async (what, c, code) => {
    const r = await run({ command: 'ADD', conf: conf(), ...c });
    refused(r, code);
    rule('state names', what, `ADD ${code}`);
  });

  it.each([241, 5000])('a network name of %i bytes (too long for a state file name) is refused (7) at ADD, and DEL of it succeeds', async (len) => {
    // another attachment exists, so the state directory does (a missing directory hides the error)
    node.pci('0000:00:07.0', { driver: 'vfio-pci' });
    expect((await run({ command: 'ADD', conf: conf({ deviceID: '0000:00:07.0' }), containerId: 'other' })).code).toBe(0);
    const name = `n${'x'.repeat(len - 1)}`;
    const r = await run({ command: 'ADD', conf: conf({ name }) });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain('too long');
    const d = await run({ command: 'DEL', conf: conf({ name }) });
    expect([d.code, d.stdout], d.stderr).toEqual([0, '']);
    expect(stateFiles()).toEqual(['sec-net@other@net1.json']);
    rule('state names', `network name of ${len} bytes (state file name > 255)`, 'ADD 7, DEL 0 (nothing to release)');
  });
});

describe.runIf(root)('interface names iproute2\'s batch parser would misread', () => {
  let w: World;
  beforeEach(() => {
    w = new World('netdev', 'secnd');
  });
  afterEach(() => w.cleanup());

  it.each(['a#b', 'x"y', "a'b", 'a\\b', 'a;b'])('CNI_IFNAME %j: the device gets exactly that name in the pod and comes back on DEL', async (ifname) => {
    const ns = w.netns('pod');
    const c = w.conf({}, ifname);
    const base = await w.snapshot([ifname]);
    const add = await spawnCni({ command: 'ADD', conf: c, ifname, netns: World.path(ns), root: w.root });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.interfaces[0].name).toBe(ifname);
    const inPod = JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname]).stdout)[0];
    expect(inPod).toMatchObject({ ifname, address: w.podMac, mtu: 1400 });
    const chk = await spawnCni({ command: 'CHECK', conf: { ...c, prevResult: add.json }, ifname, netns: World.path(ns), root: w.root });
    expect(chk.code, chk.stdout).toBe(0);
    const del = await spawnCni({ command: 'DEL', conf: c, ifname, netns: World.path(ns), root: w.root });
    expect(del.code, del.stdout).toBe(0);
    expect(World.diff(base, await w.snapshot([ifname]))).toEqual([]);
    rule('ifname', `${JSON.stringify(ifname)} (netdev mode, real netns)`, 'attached under exactly that name, CHECK 0, DEL restores');
  });
});

afterAll(() => {
  report('security', 'Untrusted configuration: attacks and outcomes', rules);
});
