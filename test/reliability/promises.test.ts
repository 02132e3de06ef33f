/**
 * Issue #13: every written promise (README, docs/security.md, docs/reliability.md,
 * docs/troubleshooting.md, docs/migrating-from-sriov-cni.md) gets a test that tries to break it.
 * This file holds the promises no other test tried; the table from each promise to its test is
 * docs/promises.md. Everything here runs the built executable on a simulated node (DPDK mode:
 * no netns changes), as a runtime would run it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cni, cniEnv, tempDir, type CniCall, type RunResult } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { deviceLockName } from '../../src/sys/lock.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const PF = '0000:3b:00.0';
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let vfs: string[];
let holders: ChildProcess[] = [];

beforeEach(() => {
  dir = tempDir('dpdk-cni-promises-');
  node = new SimNode(join(dir.path, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  vfs = node.sriovPf(PF, { netdev: 'ens1f0', numVfs: 4, mtu: 9000 });
});
afterEach(() => {
  for (const h of holders) h.kill('SIGKILL');
  holders = [];
  dir.cleanup();
});

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'prom-net', type: 'dpdk-cni', ...extra });
const call = (c: Omit<CniCall, 'root'>): RunResult => cni({ netns: LIVE, ...c, root: node.root });
const state = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
const logLines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A CNI error as README "Error codes" describes it: exit 1, one JSON document, the four keys. */
function expectError(r: RunResult, code: number): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(Object.keys(r.json ?? {})).toEqual(['cniVersion', 'code', 'msg', 'details']);
  expect(r.json.code, r.json.msg).toBe(code);
  expect(r.stdout).not.toMatch(STACK);
}

/** Another process holding a device lock, as a concurrent dpdk-cni (or a squatter) would. */
async function holdLock(pci: string): Promise<void> {
  const name = deviceLockName(node.root, pci);
  const p = spawn(process.execPath, ['-e', `require('net').createServer().listen({ path: '\\0' + process.argv[1] }, () => console.log('held'))`, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(p);
  const [line] = (await once(p.stdout!, 'data')) as [Buffer];
  expect(line.toString()).toContain('held');
}

/**
 * A fake IPAM plugin in a root-owned directory only root can write (so CNI_PATH accepts it). It
 * speaks CNI 1.1.0, appends every call (command, CNI_* environment, stdin) to calls.jsonl, and
 * fails the commands listed in fail.json (with code 11, "try again").
 */
function fakeIpam(): { path: string; calls: () => Array<{ cmd: string; env: Record<string, string>; stdin: string }>; fail: (cmds: string[]) => void } {
  const bin = join(dir.path, 'ipam-bin');
  mkdirSync(bin, { mode: 0o755 });
  chmodSync(bin, 0o755);
  const log = join(bin, 'calls.jsonl');
  const failFile = join(bin, 'fail.json');
  writeFileSync(failFile, '[]');
  const script = `#!${process.execPath}
const fs = require('fs');
const cmd = process.env.CNI_COMMAND;
const stdin = fs.readFileSync(0, 'utf8');
const env = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('CNI_')) env[k] = v;
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ cmd, env, stdin }) + '\\n');
const v = (() => { try { return JSON.parse(stdin).cniVersion || '1.1.0'; } catch { return '1.1.0'; } })();
if (JSON.parse(fs.readFileSync(${JSON.stringify(failFile)}, 'utf8')).includes(cmd)) {
  process.stdout.write(JSON.stringify({ cniVersion: v, code: 11, msg: 'fake IPAM: backend unavailable (' + cmd + ')' }));
  process.exit(1);
}
if (cmd === 'VERSION') process.stdout.write(JSON.stringify({ cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] }));
else if (cmd === 'ADD') process.stdout.write(JSON.stringify({ cniVersion: v, ips: [{ address: '10.66.0.7/24', gateway: '10.66.0.1' }] }));
`;
  const file = join(bin, 'fake-ipam');
  writeFileSync(file, script, { mode: 0o755 });
  chmodSync(file, 0o755);
  return {
    path: bin,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []),
    fail: (cmds) => writeFileSync(failFile, JSON.stringify(cmds)),
  };
}

describe('README "Error codes"', () => {
  it('5: stdin that cannot be read (a directory) is an I/O error with code 5, as JSON on stdout', () => {
    const fd = openSync(dir.path, 'r');
    try {
      const r = spawnSync(BIN, [], { stdio: [fd, 'pipe', 'pipe'], env: cniEnv({ command: 'ADD', netns: LIVE, root: node.root }), encoding: 'utf8', timeout: 30_000 });
      const res: RunResult = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: (() => { try { return JSON.parse(r.stdout); } catch { return undefined; } })() };
      expectError(res, 5);
      expect(res.stderr).not.toMatch(STACK);
    } finally {
      closeSync(fd);
    }
    expect(ls(state('attachments'))).toEqual([]);
  });
});

describe('README "State and locking": every ADD/DEL/CHECK of a device holds its lock; not had in time → 11', () => {
  it('with the device lock held elsewhere, ADD, CHECK and DEL each give 11 in the set time and change nothing; once free, they work', async () => {
    const env = { DPDK_CNI_LOCK_TIMEOUT_MS: '400' };
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[1] }), env }).code).toBe(0);
    await holdLock(vfs[1]!);
    const add2 = call({ command: 'ADD', conf: conf({ deviceID: vfs[1] }), containerId: 'pod2', env });
    expectError(add2, 11);
    const chk = call({ command: 'CHECK', conf: conf({ deviceID: vfs[1] }), env });
    expectError(chk, 11);
    const t0 = Date.now();
    const del = call({ command: 'DEL', conf: conf({ deviceID: vfs[1] }), env });
    expectError(del, 11);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(ls(state('attachments'))).toEqual(['prom-net@c0ffee@net1.json']);
    expect(JSON.parse(readFileSync(state('devices', `${vfs[1]}.json`), 'utf8')).key.containerID).toBe('c0ffee');
    for (const h of holders) h.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    expect(call({ command: 'DEL', conf: conf({ deviceID: vfs[1] }), env }).code).toBe(0);
    expect(ls(state('attachments'))).toEqual([]);
  });
});

describe('README "A lock not had within 30 s gives code 11" (the default, without DPDK_CNI_LOCK_TIMEOUT_MS)', () => {
  it('ADD waits about 30 s for a held lock, then gives 11 and leaves nothing', async () => {
    await holdLock(PFLESS);
    const t0 = Date.now();
    const r = call({ command: 'ADD', conf: conf({ deviceID: PFLESS }) });
    const waited = Date.now() - t0;
    expectError(r, 11);
    expect(waited).toBeGreaterThanOrEqual(29_500);
    expect(waited).toBeLessThan(45_000);
    expect(ls(state('attachments'))).toEqual([]);
  }, 90_000);
});

describe('README "DEL succeeds when ... the device is gone"', () => {
  it('the PCI device vanished from sysfs after ADD (VFs re-created, hot-unplug): DEL succeeds and forgets the attachment', () => {
    expect(call({ command: 'ADD', conf: conf({ deviceID: PFLESS }) }).code).toBe(0);
    rmSync(node.realDir(PFLESS), { recursive: true, force: true });
    rmSync(join(node.root, 'sys/bus/pci/devices', PFLESS), { force: true });
    const del = call({ command: 'DEL', conf: conf({ deviceID: PFLESS }) });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });
});

describe('migrating-from-sriov-cni.md "DEL with an empty or dead netns": releases IPAM in every case', () => {
  it.each([['an empty CNI_NETNS', ''], ['a netns that is gone', '/run/netns/dcni-promise-gone']])('DEL with %s releases the host-local lease', (_what, netns) => {
    const ipamDir = join(dir.path, 'ipam');
    const c = conf({ deviceID: vfs[2], ipam: { type: 'host-local', subnet: '10.76.0.0/24', dataDir: ipamDir } });
    expect(call({ command: 'ADD', conf: c }).code).toBe(0);
    expect(ls(join(ipamDir, 'prom-net'))).toContain('10.76.0.2');
    const del = call({ command: 'DEL', conf: c, netns });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(ls(join(ipamDir, 'prom-net')).filter((f) => f.startsWith('10.'))).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
  });
});

describe('README "DEL ... Problems a retry could fix fail the DEL with code 11 and keep the state"', () => {
  it('an IPAM DEL failure on a device still there: 11 naming IPAM, state and marker kept; the retry finishes and forgets it', () => {
    const ipam = fakeIpam();
    const c = conf({ deviceID: vfs[0], ipam: { type: 'fake-ipam' } });
    const add = call({ command: 'ADD', conf: c, path: ipam.path });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips).toEqual([{ interface: 0, address: '10.66.0.7/24', gateway: '10.66.0.1' }]);
    ipam.fail(['DEL']);
    const del = call({ command: 'DEL', conf: c, path: ipam.path });
    expectError(del, 11);
    expect(del.json.msg).toContain('fake IPAM: backend unavailable (DEL)');
    expect(ls(state('attachments'))).toEqual(['prom-net@c0ffee@net1.json']);
    expect(ls(state('devices'))).toEqual([`${vfs[0]}.json`]);
    ipam.fail([]);
    const retry = call({ command: 'DEL', conf: c, path: ipam.path });
    expect([retry.code, retry.stdout], retry.stderr).toEqual([0, '']);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });
});

describe('README "STATUS ... forwards STATUS to IPAM (code 50 otherwise)" and "GC ... then forwards GC to IPAM"', () => {
  it('STATUS asks the IPAM plugin, and is 50 with its message when IPAM is not ready', () => {
    const ipam = fakeIpam();
    const c = conf({ ipam: { type: 'fake-ipam' } });
    expect(call({ command: 'STATUS', conf: c, path: ipam.path })).toMatchObject({ code: 0, stdout: '' });
    expect(ipam.calls().map((x) => x.cmd)).toContain('STATUS');
    ipam.fail(['STATUS']);
    const r = call({ command: 'STATUS', conf: c, path: ipam.path });
    expectError(r, 50);
    expect(r.json.msg).toContain('fake IPAM: backend unavailable (STATUS)');
  });

  it('GC is forwarded to IPAM with the valid attachments, after the released ones were deleted from IPAM', () => {
    const ipam = fakeIpam();
    const c = conf({ ipam: { type: 'fake-ipam' } });
    expect(call({ command: 'ADD', conf: { ...c, deviceID: vfs[0] }, containerId: 'keep', path: ipam.path }).code).toBe(0);
    expect(call({ command: 'ADD', conf: { ...c, deviceID: vfs[1] }, containerId: 'gone', path: ipam.path }).code).toBe(0);
    const valid = [{ containerID: 'keep', ifname: 'net1' }];
    const gc = call({ command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': valid }, path: ipam.path });
    expect([gc.code, gc.stdout], gc.stderr).toEqual([0, '']);
    const calls = ipam.calls().filter((x) => x.cmd !== 'VERSION');
    expect(calls.map((x) => `${x.cmd}:${x.env.CNI_CONTAINERID ?? ''}`)).toEqual(['ADD:keep', 'ADD:gone', 'DEL:gone', 'GC:']);
    expect(JSON.parse(calls[3]!.stdin)['cni.dev/valid-attachments']).toEqual(valid);
    expect(ls(state('attachments'))).toEqual(['prom-net@keep@net1.json']);
  });
});

describe('security.md "IPAM environment": the IPAM plugin gets the netconf bytes as received', () => {
  it('ADD hands the IPAM plugin stdin byte for byte (odd spacing, key order, unknown keys) and the CNI_* environment', () => {
    const ipam = fakeIpam();
    const stdin = `{ "type":"dpdk-cni",  "name": "prom-net","cniVersion":"1.1.0",\n "deviceID": "${vfs[3]}", "zz-vendor": {"k": [1, 2]},\t"ipam": {"type": "fake-ipam", "custom": "x y"} }`;
    const add = call({ command: 'ADD', stdin, path: ipam.path, args: 'K8S_POD_NAME=web-0' });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const a = ipam.calls().find((x) => x.cmd === 'ADD')!;
    expect(a.stdin).toBe(stdin);
    expect(a.env).toMatchObject({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee', CNI_IFNAME: 'net1', CNI_NETNS: LIVE, CNI_ARGS: 'K8S_POD_NAME=web-0', CNI_PATH: ipam.path });
  });
});

describe('README "Simulated node": DPDK_CNI_ROOT (and DPDK_CNI_LOCK_TIMEOUT_MS) are environment only — a NAD cannot move them', () => {
  it('the names in the netconf, runtimeConfig and CNI_ARGS change nothing: state lands under the environment root', () => {
    const elsewhere = join(dir.path, 'elsewhere');
    mkdirSync(elsewhere);
    const c = conf({ deviceID: PFLESS, DPDK_CNI_ROOT: elsewhere, DPDK_CNI_LOCK_TIMEOUT_MS: '1', runtimeConfig: { DPDK_CNI_ROOT: elsewhere } });
    const r = call({ command: 'ADD', conf: c, args: `IgnoreUnknown=1;DPDK_CNI_ROOT=${elsewhere}` });
    expect(r.code, r.stdout).toBe(0);
    expect(ls(state('attachments'))).toEqual(['prom-net@c0ffee@net1.json']);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});

describe('security.md "Input size and shape": __proto__, constructor and other keys are inert', () => {
  it.each([
    ['__proto__', '{"__proto__": {"vlan": 100, "spoofchk": "off"}}'],
    ['constructor.prototype', '{"constructor": {"prototype": {"vlan": 100}}}'],
    ['runtimeConfig.__proto__', '{"runtimeConfig": {"__proto__": {"mac": "02:00:00:00:00:99"}}}'],
  ])('%s carrying VF settings does not set them (a PF-less device would refuse them with 103)', (_what, extra) => {
    const base = JSON.stringify(conf({ deviceID: PFLESS }));
    const stdin = `${base.slice(0, -1)},${extra.slice(1)}`;
    const r = call({ command: 'ADD', stdin });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces[0]).toEqual({ name: 'net1', sandbox: LIVE, pciID: PFLESS });
    expect(JSON.parse(readFileSync(state('attachments', 'prom-net@c0ffee@net1.json'), 'utf8')).vf).toBeUndefined();
  });
});

describe('README "What each mode does": a PF-less device refuses every setting that needs a PF (103), never silently', () => {
  it.each([
    [{ vlan: 10, vlanQoS: 3 }, 'vlan'],
    [{ vlan: 10, vlanProto: '802.1ad' }, 'vlan'],
    [{ min_tx_rate: 10 }, 'min_tx_rate'],
  ])('%o → 103 naming %s, nothing left behind', (extra, name) => {
    const r = call({ command: 'ADD', conf: conf({ deviceID: PFLESS, ...extra }) });
    expectError(r, 103);
    expect(r.json.msg).toContain(name);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });
});

describe('README "What a pod sees": device-info files', () => {
  const file = (id: string) => `/var/run/k8s.cni.cncf.io/devinfo/cni/default-prom-net-${id}_net1`;

  it('DEL of an attachment whose device-info file Multus already removed succeeds ("a missing file is fine")', () => {
    const c = conf({ deviceID: vfs[1], runtimeConfig: { CNIDeviceInfoFile: file('c0ffee') } });
    expect(call({ command: 'ADD', conf: c }).code).toBe(0);
    rmSync(join(node.root, file('c0ffee')));
    const del = call({ command: 'DEL', conf: c });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(ls(state('attachments'))).toEqual([]);
  });

  it('GC removes the device-info files of attachments that are gone, and keeps those of valid ones', () => {
    for (const [i, id] of ['keep', 'gone'].entries()) {
      const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[i], runtimeConfig: { CNIDeviceInfoFile: file(id) } }), containerId: id });
      expect(r.code, r.stdout).toBe(0);
      expect(existsSync(join(node.root, file(id)))).toBe(true);
    }
    const gc = call({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }] }) });
    expect([gc.code, gc.stdout], gc.stderr).toEqual([0, '']);
    expect(existsSync(join(node.root, file('keep')))).toBe(true);
    expect(existsSync(join(node.root, file('gone')))).toBe(false);
  });
});

describe('README "State and locking": a late DEL of an attachment whose device passed to another pod leaves the device alone', () => {
  it('pod A (netns gone, DEL never came) is healed by pod B\'s ADD; A\'s late DEL succeeds and B keeps its marker, state and device-info', () => {
    const fileB = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-prom-net-podB_net1';
    // pod A's netns exists at its ADD (every mode checks it) and is gone afterwards
    const gone = `dcni-promise-gone-${process.pid}`;
    spawnSync('ip', ['netns', 'add', gone]);
    try {
      const a = call({ command: 'ADD', conf: conf({ deviceID: vfs[0], runtimeConfig: { CNIDeviceInfoFile: '/var/run/k8s.cni.cncf.io/devinfo/cni/default-prom-net-podA_net1' } }), containerId: 'podA', netns: `/run/netns/${gone}` });
      expect(a.code, a.stdout).toBe(0);
    } finally {
      spawnSync('ip', ['netns', 'del', gone]);
    }
    const b = call({ command: 'ADD', conf: conf({ deviceID: vfs[0], runtimeConfig: { CNIDeviceInfoFile: fileB } }), containerId: 'podB' });
    expect(b.code, b.stdout).toBe(0);
    const delA = call({ command: 'DEL', conf: conf({ deviceID: vfs[0] }), containerId: 'podA', netns: '' });
    expect([delA.code, delA.stdout], delA.stderr).toEqual([0, '']);
    expect(ls(state('attachments'))).toEqual(['prom-net@podB@net1.json']);
    expect(JSON.parse(readFileSync(state('devices', `${vfs[0]}.json`), 'utf8')).key.containerID).toBe('podB');
    expect(existsSync(join(node.root, fileB))).toBe(true);
    expect(call({ command: 'CHECK', conf: conf({ deviceID: vfs[0], prevResult: b.json }), containerId: 'podB' }).code).toBe(0);
  });
});

describe('troubleshooting.md "Where the logs are": the log format and what logLevel debug adds', () => {
  it('every line is pino-shaped with the call context; debug shows the device classification; stdout has only the error', () => {
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[2], vlan: 10, logLevel: 'debug' }), args: 'K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1' });
    expectError(r, 104); // the simulated PF is not in the kernel: reading it with ip fails
    const lines = logLines(r.stderr);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(expect.arrayContaining(['level', 'time', 'pid', 'hostname', 'msg', 'cmd', 'containerID', 'ifname', 'podNamespace', 'podName', 'net']));
      expect(l).toMatchObject({ cmd: 'ADD', containerID: 'c0ffee', ifname: 'net1', podNamespace: 'ns1', podName: 'p1', net: 'prom-net', pid: expect.any(Number) });
      expect([20, 30, 40, 50]).toContain(l.level);
    }
    const debug = lines.filter((l) => l.level === 20).map((l) => JSON.stringify(l));
    expect(debug.some((l) => l.includes(vfs[2]!) && l.includes('"mode":"dpdk"')), 'device classification at debug').toBe(true);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('debug shows every ip command the plugin runs (here the PF read "ip -d link show ens1f0" that failed)', () => {
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[2], vlan: 10, logLevel: 'debug' }) });
    expectError(r, 104);
    const debug = logLines(r.stderr).filter((l) => l.level === 20).map((l) => JSON.stringify(l));
    expect(debug.some((l) => /\bip\b/.test(l) && l.includes('link') && l.includes('ens1f0'))).toBe(true);
    // with its exit status; at info level no command is logged
    expect(logLines(r.stderr).some((l) => l.level === 20 && typeof l.exit === 'number' && String(l.run).includes('ens1f0'))).toBe(true);
    const info = call({ command: 'ADD', conf: conf({ deviceID: vfs[2], vlan: 10 }) });
    expect(logLines(info.stderr).some((l) => 'exit' in l)).toBe(false);
  });

  it('at logLevel error a successful ADD and DEL write nothing to stderr', () => {
    const c = conf({ deviceID: PFLESS, logLevel: 'error' });
    const add = call({ command: 'ADD', conf: c });
    const del = call({ command: 'DEL', conf: c });
    expect([add.code, del.code]).toEqual([0, 0]);
    expect(add.stderr + del.stderr).toBe('');
  });
});

describe('security.md "Programs the plugin runs": ip and nsenter by absolute path, never through PATH', () => {
  it('an ip and an nsenter planted first in PATH are never run (ADD that runs ip, DEL, CHECK)', () => {
    const evil = join(dir.path, 'evil-bin');
    mkdirSync(evil);
    const ran = join(dir.path, 'ran');
    for (const p of ['ip', 'nsenter']) writeFileSync(join(evil, p), `#!/bin/sh\necho ${p} "$@" >> ${ran}\nexit 0\n`, { mode: 0o755 });
    const env = { PATH: `${evil}:${process.env.PATH}` };
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[3], vlan: 10 }), env });
    // with the planted ip the VLAN would have "worked"; the real ip knows no ens1f0 → 104
    expectError(r, 104);
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[2] }), env }).code).toBe(0);
    expect(call({ command: 'CHECK', conf: conf({ deviceID: vfs[2] }), env }).code).toBe(0);
    expect(call({ command: 'DEL', conf: conf({ deviceID: vfs[2] }), env }).code).toBe(0);
    expect(existsSync(ran), existsSync(ran) ? readFileSync(ran, 'utf8') : '').toBe(false);
  });
});

describe('security.md "Input size and shape": the netconf may nest at most 64 levels', () => {
  const nested = (levels: number) => {
    // the netconf object itself is level 1; "x" holds levels - 1 more
    const base = JSON.stringify(conf({ deviceID: PFLESS }));
    return `${base.slice(0, -1)},"x":${'{"a":'.repeat(levels - 1)}1${'}'.repeat(levels - 1)}}`;
  };
  it('64 levels are accepted; 65 and 20,000 are refused with 7 saying why, no stack trace, nothing left behind', () => {
    const ok = call({ command: 'ADD', stdin: nested(64) });
    expect(ok.code, ok.stdout).toBe(0);
    expect(call({ command: 'DEL', stdin: nested(64) }).code).toBe(0);
    for (const n of [65, 20_000]) {
      const r = call({ command: 'ADD', stdin: nested(n) });
      expectError(r, 7);
      expect(r.json.msg).toContain('deeper than 64 levels');
      expect(r.stderr).not.toMatch(STACK);
      expect(ls(state('attachments'))).toEqual([]);
    }
  });
});

describe('security.md "which CNI_PATH entries count": a sticky directory such as /tmp is allowed above an entry, never as the entry', () => {
  it('an IPAM plugin in a sticky world-writable CNI_PATH entry is not run (4 naming the entry)', () => {
    const ipam = fakeIpam();
    chmodSync(ipam.path, 0o1777);
    const r = call({ command: 'ADD', conf: conf({ deviceID: PFLESS, ipam: { type: 'fake-ipam' } }), path: ipam.path });
    expectError(r, 4);
    expect(r.json.msg).toContain(`${ipam.path} is writable by everyone`);
    expect(ipam.calls()).toEqual([]);
    expect(ls(state('attachments'))).toEqual([]);
  });
});

describe('README "CHECK verifies ... and IPAM CHECK. Every mismatch is listed in one error (code 108)"', () => {
  it('CHECK forwards to IPAM; an IPAM CHECK failure and a rebound driver are both listed in one 108', () => {
    const ipam = fakeIpam();
    const c = conf({ deviceID: PFLESS, ipam: { type: 'fake-ipam' } });
    expect(call({ command: 'ADD', conf: c, path: ipam.path }).code).toBe(0);
    expect(call({ command: 'CHECK', conf: c, path: ipam.path })).toMatchObject({ code: 0, stdout: '' });
    expect(ipam.calls().filter((x) => x.cmd === 'CHECK')).toHaveLength(1);
    ipam.fail(['CHECK']);
    node.bind(PFLESS, 'igb_uio');
    const r = call({ command: 'CHECK', conf: c, path: ipam.path });
    expectError(r, 108);
    expect(r.json.msg).toContain('bound to igb_uio, expected vfio-pci');
    expect(r.json.msg).toContain('fake IPAM: backend unavailable (CHECK)');
  });
});

describe('README "GC ... removes this network\'s allocation markers left without an attachment"', () => {
  it('a marker whose attachment is gone (DEL killed half-way) is removed by GC of its network only', () => {
    expect(call({ command: 'ADD', conf: conf({ deviceID: vfs[0] }), containerId: 'mine' }).code).toBe(0);
    expect(call({ command: 'ADD', conf: conf({ name: 'other-net', deviceID: vfs[1] }), containerId: 'theirs' }).code).toBe(0);
    rmSync(state('attachments', 'prom-net@mine@net1.json'));
    rmSync(state('attachments', 'other-net@theirs@net1.json'));
    const gc = call({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [{ containerID: 'unrelated', ifname: 'net1' }] }) });
    expect([gc.code, gc.stdout], gc.stderr).toEqual([0, '']);
    expect(ls(state('devices'))).toEqual([`${vfs[1]}.json`]);
  });
});

describe('README intro "DEL restores everything ADD changed, even when ... the saved state ... is gone"', () => {
  const file = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-prom-net-c0ffee_net1';
  const c = () => conf({ deviceID: vfs[1], ipam: { type: 'host-local', subnet: '10.75.0.0/24', dataDir: join(dir.path, 'ipam') }, runtimeConfig: { CNIDeviceInfoFile: file } });

  it('with the attachment state file gone, DEL still succeeds, releases the IPAM lease and the allocation marker', () => {
    expect(call({ command: 'ADD', conf: c() }).code).toBe(0);
    rmSync(state('attachments', 'prom-net@c0ffee@net1.json'));
    const del = call({ command: 'DEL', conf: c() });
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(ls(join(dir.path, 'ipam', 'prom-net')).filter((f) => f.startsWith('10.'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });

  it('with the attachment state file gone, DEL removes the device-info file ADD wrote', () => {
    expect(call({ command: 'ADD', conf: c() }).code).toBe(0);
    expect(existsSync(join(node.root, file))).toBe(true);
    rmSync(state('attachments', 'prom-net@c0ffee@net1.json'));
    expect(call({ command: 'DEL', conf: c() }).code).toBe(0);
    expect(existsSync(join(node.root, file))).toBe(false);
  });
});

describe('security.md "Names in state files": no "@" in a network name or container ID (the separator)', () => {
  it('a network name "a@b" → 7, a container ID "a@b" → 4, nothing written', () => {
    const n = call({ command: 'ADD', conf: conf({ name: 'a@b', deviceID: PFLESS }) });
    expectError(n, 7);
    expect(n.json.msg).toContain('"a@b"');
    const id = call({ command: 'ADD', conf: conf({ deviceID: PFLESS }), containerId: 'a@b' });
    expectError(id, 4);
    expect(id.json.msg).toContain('CNI_CONTAINERID "a@b"');
    expect(ls(state('attachments'))).toEqual([]);
  });
});

describe('README "A PF-less device works in every mode; settings that need a PF are refused with 103"', () => {
  beforeEach(() => {
    node.pci('0000:00:07.0', { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
    node.vdpa('0000:00:07.0', 'vdpa0', 'vhost_vdpa', { index: 2 });
    node.pci('0000:00:08.0', { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
    node.netdev('0000:00:08.0', 'dcnipromx0', { virtio: 0 });
  });
  it.each([
    ['vhost-vdpa', '0000:00:07.0', { mac: '02:00:00:00:00:42' }, 'mac (02:00:00:00:00:42)'],
    ['vhost-vdpa', '0000:00:07.0', { vlan: 5 }, 'vlan'],
    ['netdev (virtio-net)', '0000:00:08.0', { vlan: 5 }, 'vlan'],
    ['netdev (virtio-net)', '0000:00:08.0', { trust: 'on' }, 'trust'],
  ])('%s %s with %o → 103 naming %s, nothing left behind', (_mode, pci, extra, name) => {
    const r = call({ command: 'ADD', conf: conf({ deviceID: pci, ...extra }) });
    expectError(r, 103);
    expect(r.json.msg).toContain(`so ${name} cannot be applied`);
    expect(ls(state('attachments'))).toEqual([]);
    expect(ls(state('devices'))).toEqual([]);
  });
});

describe('migrating-from-sriov-cni.md "mtu: DPDK/vhost-vdpa: a value above the PF\'s MTU is refused (code 2)"', () => {
  it('a vhost-vdpa VF with an mtu above its PF\'s → 2 naming the PF', () => {
    node.vdpa(vfs[3]!, 'vdpa1', 'vhost_vdpa', { index: 3 });
    const r = call({ command: 'ADD', conf: conf({ deviceID: vfs[3], mtu: 9001 }) });
    expectError(r, 2);
    expect(r.json.msg).toMatch(/"mtu" 9001 is above the MTU of PF ens1f0 \(9000\)/);
    expect(ls(state('attachments'))).toEqual([]);
  });
});
