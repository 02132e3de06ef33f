/**
 * State files read back (src/state): a messy node leaves torn, corrupt, hand-edited and
 * future-version files under /var/lib/cni/dpdk-cni, and nothing in them may be trusted. Against
 * the built executable on a simulated node:
 * 1. a corrupt attachment state (not JSON, truncated, a field of the wrong type or breaking its
 *    rule) is moved aside by DEL with one warning naming the file and the field, then DEL does its
 *    best-effort release (IPAM, this attachment's marker); CHECK answers 107 naming the file;
 *    GC and ADD set it aside too;
 * 2. a state written by a newer dpdk-cni (unknown `version`) is 107 for DEL, CHECK, GC and ADD's
 *    healing, naming the file and its version; nothing is changed;
 * 3. known/<pci>.json that breaks its rules is ignored with one warning, not copied into the result;
 * 4. an allocation marker that breaks its rules is stale: ADD replaces it, never builds a path from it;
 * 5. CHECK reads the state under the device lock;
 * 6. "too long for a state file name" names the part that is long.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cni, cniAsync, tempDir, type CniCall, type RunResult } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { deviceLockName } from '../../src/sys/lock.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const OTHER = '0000:00:07.0';
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;
const STATE = 'var/lib/cni/dpdk-cni';
const FILE = 'trust-state@c0ffee@net1.json';

let dir: { path: string; cleanup: () => void };
let node: SimNode;

beforeEach(() => {
  dir = tempDir('dpdk-cni-tstate-');
  node = new SimNode(join(dir.path, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  node.pci(OTHER, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(() => dir.cleanup());

const at = (...p: string[]) => join(node.root, ...p);
const ipamDir = () => at('ipam');
const ipam = () => ({ type: 'host-local', subnet: '10.74.0.0/24', dataDir: ipamDir() });
const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'trust-state', type: 'dpdk-cni', deviceID: PFLESS, ipam: ipam(), ...extra });
const ls = (d: string) => (existsSync(d) ? readdirSync(d).filter((f) => !f.startsWith('.') && !f.endsWith('.corrupt')).sort() : []);
const states = () => ls(at(STATE, 'attachments'));
const markers = () => ls(at(STATE, 'devices'));
const leases = () => ls(join(ipamDir(), 'trust-state')).filter((f) => /^\d/.test(f));
const stateFile = (name = FILE) => at(STATE, 'attachments', name);

function run(c: CniCall): RunResult {
  const r = cni({ netns: LIVE, root: node.root, ...c });
  expect(r.stdout).not.toMatch(STACK);
  expect(r.stderr).not.toMatch(STACK);
  return r;
}
function expectError(r: RunResult, code: number, ...parts: string[]): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.json?.code, r.stdout + r.stderr).toBe(code);
  for (const p of parts) expect(r.json.msg).toContain(p);
}
function expectQuiet(r: RunResult): void {
  expect([r.code, r.stdout], r.stderr).toEqual([0, '']);
}
function warnings(r: RunResult): string[] {
  return r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => l.level === 40).map((l) => l.msg);
}
function added(): Record<string, any> {
  const r = run({ command: 'ADD', conf: conf() });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(states()).toEqual([FILE]);
  expect(markers()).toEqual([`${PFLESS}.json`]);
  expect(leases()).toHaveLength(1);
  return JSON.parse(readFileSync(stateFile(), 'utf8')) as Record<string, any>;
}
function edit(f: (s: Record<string, any>) => void): string {
  const s = added();
  f(s);
  const text = JSON.stringify(s);
  writeFileSync(stateFile(), text);
  return text;
}

/** Corrupt states: how to make the file, and the field the warning must name. */
const corruptions: Array<[string, () => string, string]> = [
  ['not JSON', () => { added(); writeFileSync(stateFile(), 'garbage\n'); return 'garbage\n'; }, 'not JSON'],
  ['truncated', () => { added(); const t = readFileSync(stateFile(), 'utf8').slice(0, 60); writeFileSync(stateFile(), t); return t; }, 'not JSON'],
  ['empty', () => { added(); writeFileSync(stateFile(), ''); return ''; }, 'empty'],
  ['pci of the wrong type', () => edit((s) => { s.pci = 6; }), '"pci"'],
  ['pci walking out of sysfs', () => edit((s) => { s.pci = '../../../../etc'; }), '"pci"'],
  ['mode unknown', () => edit((s) => { s.mode = 'kernel'; }), '"mode"'],
  ['netns relative', () => edit((s) => { s.netns = 'proc/1/ns/net'; }), '"netns"'],
  ['key of another attachment', () => edit((s) => { s.key.containerID = 'other'; }), '"key"'],
  ['pf.vfIndex out of range', () => edit((s) => { s.pf = { pci: OTHER, netdev: 'eth0', vfIndex: -1 }; }), '"pf.vfIndex"'],
  ['a netdev name with a "/"', () => edit((s) => { s.mode = 'netdev'; s.netdev = { hostName: '../x', origMac: '02:00:00:00:00:01', origMtu: 1500, wasUp: true, tmpName: 'dcni0', podName: 'net1', mac: '02:00:00:00:00:01', mtu: 1500 }; }), '"netdev.hostName"'],
  ['a deviceInfo path outside the devinfo directory', () => edit((s) => { s.deviceInfo = { path: '/etc/passwd' }; }), '"deviceInfo.path"'],
  ['netconf not JSON', () => edit((s) => { s.netconf = '{'; }), '"netconf"'],
];

describe('1. a corrupt attachment state file', () => {
  it.each(corruptions)('%s: DEL moves it aside with one warning naming file and field, releases IPAM and the marker, answers 0', (_what, make, field) => {
    const text = make();
    const d = run({ command: 'DEL', conf: conf() });
    expectQuiet(d);
    const w = warnings(d).filter((l) => l.includes(stateFile()));
    expect(w, d.stderr).toHaveLength(1);
    expect(w[0]).toContain('corrupt');
    expect(w[0]).toContain(field);
    // kept as evidence, under a name no reader takes for a state
    expect(readFileSync(`${stateFile()}.corrupt`, 'utf8')).toBe(text);
    expect(existsSync(stateFile())).toBe(false);
    expect(leases()).toEqual([]);
    expect(markers()).toEqual([]);
    // a repeated DEL has nothing left to do
    expectQuiet(run({ command: 'DEL', conf: conf() }));
    // and the device is free for the next pod
    expect(run({ command: 'ADD', conf: conf(), containerId: 'next' }).code).toBe(0);
  });

  it('a directory where the state file belongs: DEL sets it aside and releases, CHECK answers 107', () => {
    added();
    rmSync(stateFile());
    mkdirSync(stateFile());
    expectError(run({ command: 'CHECK', conf: conf() }), 107, stateFile(), 'directory');
    const d = run({ command: 'DEL', conf: conf() });
    expectQuiet(d);
    expect(warnings(d).filter((l) => l.includes(stateFile()) && l.includes('directory'))).toHaveLength(1);
    expect(statSync(`${stateFile()}.corrupt`).isDirectory()).toBe(true);
    expect(leases()).toEqual([]);
    expect(markers()).toEqual([]);
  });

  it('DEL of a corrupt state removes the marker only if it is this attachment\'s', () => {
    edit((s) => { s.pci = 'x'; });
    // the device has passed to another pod meanwhile
    writeFileSync(at(STATE, 'devices', `${PFLESS}.json`), JSON.stringify({ key: { net: 'trust-state', containerID: 'other', ifname: 'net1' }, netns: LIVE }));
    expectQuiet(run({ command: 'DEL', conf: conf() }));
    expect(markers()).toEqual([`${PFLESS}.json`]);
    expect(existsSync(`${stateFile()}.corrupt`)).toBe(true);
  });

  it('a second corrupt file of the same attachment does not overwrite the first one set aside', () => {
    added();
    writeFileSync(stateFile(), 'first');
    expectQuiet(run({ command: 'DEL', conf: conf() }));
    writeFileSync(stateFile(), 'second');
    expectQuiet(run({ command: 'DEL', conf: conf() }));
    const aside = readdirSync(at(STATE, 'attachments')).filter((f) => f.endsWith('.corrupt')).map((f) => readFileSync(at(STATE, 'attachments', f), 'utf8'));
    expect(aside.sort()).toEqual(['first', 'second']);
  });

  it.each(corruptions)('%s: CHECK answers 107 naming the file and changes nothing', (_what, make) => {
    const text = make();
    const r = run({ command: 'CHECK', conf: conf() });
    expectError(r, 107, stateFile(), 'corrupt');
    expect(readFileSync(stateFile(), 'utf8')).toBe(text);
  });

  it('GC of an attachment the runtime no longer lists moves its corrupt state aside and answers 0', () => {
    const text = edit((s) => { s.netconf = 5; });
    const g = run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [] }) });
    expectQuiet(g);
    expect(warnings(g).filter((l) => l.includes(stateFile()) && l.includes('"netconf"'))).toHaveLength(1);
    expect(readFileSync(`${stateFile()}.corrupt`, 'utf8')).toBe(text);
    expect(states()).toEqual([]);
  });

  it('GC leaves a corrupt state of a listed attachment alone', () => {
    const text = edit((s) => { s.netconf = 5; });
    expectQuiet(run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [{ containerID: 'c0ffee', ifname: 'net1' }] }) }));
    expect(readFileSync(stateFile(), 'utf8')).toBe(text);
  });

  it('another pod\'s ADD does not take a device whose owner has a corrupt state and a live netns (102 naming the file)', () => {
    const text = edit((s) => { s.mode = 'kernel'; });
    const r = run({ command: 'ADD', conf: conf(), containerId: 'next' });
    expectError(r, 102, stateFile(), 'corrupt');
    expect(readFileSync(stateFile(), 'utf8')).toBe(text);
    expect(JSON.parse(readFileSync(at(STATE, 'devices', `${PFLESS}.json`), 'utf8')).key.containerID).toBe('c0ffee');
  });

  it('ADD repeated over its own corrupt state sets it aside and attaches', () => {
    const text = edit((s) => { s.mode = 'kernel'; });
    const r = run({ command: 'ADD', conf: conf() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(warnings(r).filter((l) => l.includes(stateFile()) && l.includes('"mode"'))).toHaveLength(1);
    expect(readFileSync(`${stateFile()}.corrupt`, 'utf8')).toBe(text);
    expect(JSON.parse(readFileSync(stateFile(), 'utf8')).phase).toBe('added');
    // its IPAM allocation was released first (as DEL would), then made again
    expect(leases()).toHaveLength(1);
  });
});

describe('2. a state file written by a newer dpdk-cni (unknown version)', () => {
  const newer = () => edit((s) => { s.version = 2; s.pci = { future: 'shape' }; });

  it('DEL answers 107 naming the file and its version, and changes nothing', () => {
    const text = newer();
    const r = run({ command: 'DEL', conf: conf() });
    expectError(r, 107, stateFile(), 'version 2', 'dpdk-cni release that wrote it', 'remove it by hand');
    expect(readFileSync(stateFile(), 'utf8')).toBe(text);
    expect(leases()).toHaveLength(1);
    expect(markers()).toEqual([`${PFLESS}.json`]);
  });

  it('CHECK answers 107 naming the file and its version', () => {
    newer();
    expectError(run({ command: 'CHECK', conf: conf() }), 107, stateFile(), 'version 2', 'dpdk-cni release that wrote it');
  });

  it('GC answers 107 naming it, keeps it, and still releases the others', () => {
    const text = newer();
    expect(run({ command: 'ADD', conf: conf({ deviceID: OTHER }), containerId: 'gone' }).code).toBe(0);
    const g = run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [] }) });
    expectError(g, 107, stateFile(), 'version 2', 'dpdk-cni release that wrote it');
    expect(readFileSync(stateFile(), 'utf8')).toBe(text);
    expect(states()).toEqual([FILE]);
    expect(markers()).toEqual([`${PFLESS}.json`]);
  });

  it('ADD repeated for the same attachment answers 107 instead of overwriting it', () => {
    const text = newer();
    expectError(run({ command: 'ADD', conf: conf() }), 107, stateFile(), 'version 2');
    expect(readFileSync(stateFile(), 'utf8')).toBe(text);
    expect(leases()).toHaveLength(1);
  });

  it('another pod\'s ADD of the device it holds answers 107 instead of taking the device', () => {
    newer();
    // its netns is gone: with a state this release can read, ADD would heal the device
    writeFileSync(at(STATE, 'devices', `${PFLESS}.json`), JSON.stringify({ key: { net: 'trust-state', containerID: 'c0ffee', ifname: 'net1' }, netns: '/proc/999999999/ns/net' }));
    const r = run({ command: 'ADD', conf: conf(), containerId: 'next' });
    expectError(r, 107, stateFile(), 'version 2');
    expect(states()).toEqual([FILE]);
  });
});

describe('3. known/<pci>.json (what bind recorded) is checked before use', () => {
  const knownFile = () => at(STATE, 'known', `${PFLESS}.json`);
  const write = (v: unknown) => {
    mkdirSync(at(STATE, 'known'), { recursive: true });
    writeFileSync(knownFile(), typeof v === 'string' ? v : JSON.stringify(v));
  };
  const bad: Array<[string, unknown]> = [
    ['a multicast MAC', { pci: PFLESS, mac: 'ff:ff:ff:ff:ff:ff', mtu: 1500 }],
    ['a MAC that is no MAC', { pci: PFLESS, mac: '"},{"name":"x', mtu: 1500 }],
    ['an MTU below 68', { pci: PFLESS, mac: '0a:1b:2c:3d:4e:5f', mtu: 10 }],
    ['an MTU of the wrong type', { pci: PFLESS, mac: '0a:1b:2c:3d:4e:5f', mtu: '9001' }],
    ['another device\'s record', { pci: OTHER, mac: '0a:1b:2c:3d:4e:5f', mtu: 9001 }],
    ['a netdev name with a "/"', { pci: PFLESS, mac: '0a:1b:2c:3d:4e:5f', mtu: 9001, netdev: '../x' }],
  ];
  it.each(bad)('%s: ignored with one warning naming the file; the result has neither its MAC nor its MTU', (_what, v) => {
    write(v);
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined }) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const itf = r.json.interfaces[0];
    expect(itf.mac).toBeUndefined();
    expect(itf.mtu).toBeUndefined();
    expect(warnings(r).filter((l) => l.includes(knownFile()))).toHaveLength(1);
  });

  it('a valid record is still reported', () => {
    write({ pci: PFLESS, mac: '0a:1b:2c:3d:4e:5f', mtu: 9001, netdev: 'ens6', driver: 'ena' });
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined }) });
    expect(r.json.interfaces[0]).toMatchObject({ mac: '0a:1b:2c:3d:4e:5f', mtu: 9001 });
    expect(warnings(r)).toEqual([]);
  });
});

describe('4. an allocation marker that breaks its rules is stale', () => {
  it('a marker whose key walks out of the state directory is replaced by ADD with a warning, never read through', () => {
    // a complete attachment in a live netns where the marker's key would lead
    mkdirSync(at(STATE, 'known'), { recursive: true });
    const decoy = { version: 1, phase: 'added', key: { net: '../known/x', containerID: 'c', ifname: 'net1' }, netns: LIVE, mode: 'dpdk', pci: PFLESS, driver: 'vfio-pci', netconf: '{}', ipam: false, createdAt: 'now' };
    writeFileSync(at(STATE, 'known', 'x@c@net1.json'), JSON.stringify(decoy));
    mkdirSync(at(STATE, 'devices'), { recursive: true });
    writeFileSync(at(STATE, 'devices', `${PFLESS}.json`), JSON.stringify({ key: decoy.key, netns: LIVE }));
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined }) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(warnings(r).filter((l) => l.includes(at(STATE, 'devices', `${PFLESS}.json`)) && l.includes('"key.net"'))).toHaveLength(1);
    expect(JSON.parse(readFileSync(at(STATE, 'devices', `${PFLESS}.json`), 'utf8')).key).toEqual({ net: 'trust-state', containerID: 'c0ffee', ifname: 'net1' });
  });

  it.each([
    ['a relative netns', { key: { net: 'trust-state', containerID: 'old', ifname: 'net1' }, netns: 'proc/1/ns/net' }, '"netns"'],
    ['an ifname with a "/"', { key: { net: 'trust-state', containerID: 'old', ifname: 'a/b' }, netns: LIVE }, '"key.ifname"'],
    ['not JSON', '{"key":', 'not JSON'],
  ])('a marker with %s is replaced by ADD with a warning naming it', (_what, m, field) => {
    mkdirSync(at(STATE, 'devices'), { recursive: true });
    writeFileSync(at(STATE, 'devices', `${PFLESS}.json`), typeof m === 'string' ? m : JSON.stringify(m));
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined }) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(warnings(r).filter((l) => l.includes(at(STATE, 'devices', `${PFLESS}.json`)) && l.includes(field))).toHaveLength(1);
  });
});

/** Hold a device's lock the way a running dpdk-cni does (an abstract socket bound to its name). */
function holdLock(pci: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ path: `\0${deviceLockName(node.root, pci)}` }, () => resolve(srv));
  });
}

describe('5. CHECK reads the state under the device lock', () => {
  it('a DEL that finishes while CHECK waits for the lock makes CHECK report no attachment (108), not the removed state', async () => {
    added();
    const lock = await holdLock(PFLESS); // a DEL of the attachment is running
    const checking = cniAsync({ command: 'CHECK', conf: conf({ ipam: undefined }), netns: LIVE, root: node.root, env: { DPDK_CNI_LOCK_TIMEOUT_MS: '20000' } });
    await new Promise((r) => setTimeout(r, 1500));
    // the DEL removes the state and releases the lock
    rmSync(stateFile());
    await new Promise<void>((r) => lock.close(() => r()));
    const r = await checking;
    expectError(r, 108, 'no attachment');
  });
});

describe('6. a state file name too long: the error names the part that is long', () => {
  it('a long CNI_CONTAINERID is named (not the network name)', () => {
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined }), containerId: `c${'0'.repeat(299)}` });
    expectError(r, 7, 'CNI_CONTAINERID', 'too long');
    expect(r.json.msg).not.toContain('network name');
    expect(states()).toEqual([]);
  });

  it('a long network name is named (not CNI_CONTAINERID)', () => {
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined, name: `n${'x'.repeat(299)}` }) });
    expectError(r, 7, 'network name', 'too long', 'use a shorter network "name"');
    expect(r.json.msg).not.toContain('CNI_CONTAINERID');
  });

  it('both long: both are named', () => {
    const r = run({ command: 'ADD', conf: conf({ ipam: undefined, name: `n${'x'.repeat(150)}` }), containerId: `c${'0'.repeat(150)}` });
    expectError(r, 7, 'network name', 'CNI_CONTAINERID', 'too long');
  });
});
