/**
 * The lifecycle when the input is hostile or calls race (issues #13.4–#13.7, #14.4, #14.7), against
 * the built executable on a simulated node:
 * - ADD refuses a CNI_NETNS that is no live network namespace, in every mode (105);
 * - DEL and GC read the netconf and CNI_ARGS leniently: a configuration ADD refused never blocks them;
 * - a state directory that is not a directory is a state error (107) naming it, never an internal error;
 * - GC without the list of valid attachments releases nothing;
 * - ADD and DEL of one attachment started together leave the node consistent;
 * - GC goes past a device whose lock is busy and names what it could not release.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cni, cniAsync, tempDir, type CniCall, type RunResult } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { deviceLockName } from '../../src/sys/lock.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
/** Stack frames, raw or JSON-escaped inside a log line. */
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;
const STATE = 'var/lib/cni/dpdk-cni';

let dir: { path: string; cleanup: () => void };
let node: SimNode;

beforeEach(() => {
  dir = tempDir('dpdk-cni-lifecycle-');
  node = new SimNode(join(dir.path, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(() => dir.cleanup());

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'life-net', type: 'dpdk-cni', deviceID: PFLESS, ...extra });
const at = (...p: string[]) => join(node.root, ...p);
const ls = (d: string) => (existsSync(d) ? readdirSync(d).filter((f) => !f.startsWith('.')).sort() : []);
const states = () => ls(at(STATE, 'attachments'));
const markers = () => ls(at(STATE, 'devices'));

function run(c: CniCall): RunResult {
  const r = cni({ netns: LIVE, root: node.root, ...c });
  expect(r.stdout).not.toMatch(STACK);
  expect(r.stderr).not.toMatch(STACK);
  return r;
}
function runAsync(c: CniCall): Promise<RunResult> {
  return cniAsync({ netns: LIVE, root: node.root, ...c });
}
function expectError(r: RunResult, code: number, ...parts: string[]): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.json?.code, r.stdout).toBe(code);
  for (const p of parts) expect(r.json.msg).toContain(p);
}
function expectQuiet(r: RunResult): void {
  expect([r.code, r.stdout], r.stderr).toEqual([0, '']);
}
/** The warnings logged (message and reason). */
function warnings(r: RunResult): string[] {
  return r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string })
    .filter((l) => l.level === 40).map((l) => `${l.msg}${l.reason ? `: ${l.reason}` : ''}`);
}

/** Hold a device's lock the way a running dpdk-cni does (an abstract socket bound to its name). */
function holdLock(pci: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ path: `\0${deviceLockName(node.root, pci)}` }, () => resolve(srv));
  });
}

describe('#13.4 ADD refuses a CNI_NETNS that is no live network namespace, in every mode', () => {
  const VDPA_PF = '0000:65:00.0';
  const NETDEV = '0000:00:10.0';
  const VIRTIO = '0000:00:11.0';
  const devices: Record<string, () => string> = {
    dpdk: () => PFLESS,
    'vhost-vdpa': () => {
      const [vf] = node.sriovPf(VDPA_PF, { netdev: 'enp101s0f0np0', numVfs: 1, driver: 'mlx5_core', vfDriver: 'mlx5_core' });
      node.vdpa(vf!, 'vdpa0', 'vhost_vdpa');
      return vf!;
    },
    netdev: () => {
      node.pci(NETDEV, { driver: 'iavf' });
      node.netdev(NETDEV, 'dcnisim0');
      return NETDEV;
    },
    'virtio-vdpa': () => {
      node.pci(VIRTIO, { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
      node.vdpa(VIRTIO, 'vdpa1', 'virtio_vdpa', { netdev: 'dcnisim1' });
      return VIRTIO;
    },
  };
  const netnses: Record<string, () => string> = {
    'a missing path': () => `/run/netns/dcni-missing-${process.pid}`,
    'a regular file': () => {
      const f = join(dir.path, 'not-a-netns');
      writeFileSync(f, '');
      return f;
    },
    'the netns of a process that has exited': () => `/proc/${spawnSync('true').pid}/ns/net`,
    'a namespace of another type (mount)': () => `/proc/${process.pid}/ns/mnt`,
  };
  for (const [mode, device] of Object.entries(devices)) {
    it.each(Object.keys(netnses))(`${mode}: %s → 105 naming the path; nothing is allocated`, (kind) => {
      const pci = device();
      const netns = netnses[kind]!();
      const r = run({ command: 'ADD', conf: conf({ deviceID: pci }), netns });
      expectError(r, 105, `CNI_NETNS ${JSON.stringify(netns)}`);
      expect(states()).toEqual([]);
      expect(markers()).toEqual([]);
    });
  }

  it('a live netns still works in DPDK mode (the check refuses only what is not a netns)', () => {
    expect(run({ command: 'ADD', conf: conf() }).code).toBe(0);
    expect(states()).toEqual(['life-net@c0ffee@net1.json']);
  });
});

describe('an owner whose network namespace cannot be inspected (EACCES) keeps its device', () => {
  // /proc/1/ns/net: in a sandbox or under an LSM even root may be refused statfs/open on it; it
  // exists, so its pod may be alive. On a machine where it can be opened it is simply live.
  const present = (() => {
    try {
      return lstatSync('/proc/1/ns/net').isSymbolicLink();
    } catch {
      return false;
    }
  })();
  it.runIf(present)('another pod\'s ADD of the device is refused (102), never healed', () => {
    expect(run({ command: 'ADD', conf: conf(), containerId: 'owner1' }).code).toBe(0);
    const sf = at(STATE, 'attachments', 'life-net@owner1@net1.json');
    const mf = at(STATE, 'devices', `${PFLESS}.json`);
    for (const f of [sf, mf]) writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(f, 'utf8')), netns: '/proc/1/ns/net' }));
    const r = run({ command: 'ADD', conf: conf(), containerId: 'thief1' });
    expectError(r, 102, 'owner1');
    expect(states()).toEqual(['life-net@owner1@net1.json']);
    expect(JSON.parse(readFileSync(mf, 'utf8')).key.containerID).toBe('owner1');
  });
});

describe('#13.5 DEL and GC read the configuration leniently', () => {
  const refusedAtAdd: Array<[string, Record<string, unknown>, string | undefined, number]> = [
    ['a field of the wrong type', { vlan: '100' }, undefined, 7],
    ['logLevel "verbose"', { logLevel: 'verbose' }, undefined, 7],
    ['an ipam.type that is not a plain file name', { ipam: { type: '../../bin/sh' } }, undefined, 7],
    ['CNI_ARGS with an unknown key', {}, 'K8S_POD_NAME=p;FOO=bar', 4],
    ['CNI_ARGS with a pair without "="', {}, 'K8S_POD_NAME=p;junk', 4],
    ['a name that is not a valid network name', { name: 'bad/name' }, undefined, 7],
  ];
  it.each(refusedAtAdd)('ADD refused for %s; DEL of it succeeds (nothing to release) and logs the problem', (_what, extra, args, code) => {
    const c = conf(extra);
    expectError(run({ command: 'ADD', conf: c, args }), code);
    const d = run({ command: 'DEL', conf: c, args });
    expectQuiet(d);
    expect(warnings(d).join('\n')).toMatch(/configuration|CNI_ARGS|name/);
    const again = run({ command: 'DEL', conf: c, args });
    expectQuiet(again);
  });

  it('DEL of a complete attachment with CNI_ARGS the ADD did not have (an unknown key) releases it', () => {
    expect(run({ command: 'ADD', conf: conf() }).code).toBe(0);
    expectQuiet(run({ command: 'DEL', conf: conf({ logLevel: 'verbose', vlan: 'x' }), args: 'FOO=bar' }));
    expect(states()).toEqual([]);
    expect(markers()).toEqual([]);
  });

  it('DEL with CNI_ARGS it ignores in part (an unknown key, a pair without "=") still releases the host-local lease ADD made with IgnoreUnknown=1', () => {
    const ipamDir = at('ipam');
    const c = conf({ ipam: { type: 'host-local', subnet: '10.72.0.0/24', dataDir: ipamDir }, deviceID: PFLESS });
    expect(run({ command: 'ADD', conf: c, args: 'IgnoreUnknown=1;FOO=bar' }).code).toBe(0);
    expect(ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'))).toEqual(['10.72.0.2']);
    // the runtime's DEL without the flag: host-local alone refuses unknown keys, and DEL must not fail for ever
    expectQuiet(run({ command: 'DEL', conf: c, args: 'FOO=bar;junk' }));
    expect(ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'))).toEqual([]);
    expect(states()).toEqual([]);
  });

  it('DEL without saved state still releases the IPAM allocation when the rest of the configuration is invalid', () => {
    const ipamDir = at('ipam');
    const ipam = { type: 'host-local', subnet: '10.71.0.0/24', dataDir: ipamDir };
    // an allocation made for this attachment whose state was lost (e.g. the state write failed)
    expect(run({ command: 'ADD', conf: conf({ ipam, deviceID: PFLESS }) }).code).toBe(0);
    rmSync(at(STATE, 'attachments', 'life-net@c0ffee@net1.json'));
    expect(ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'))).toEqual(['10.71.0.2']);
    expectQuiet(run({ command: 'DEL', conf: conf({ ipam, vlan: 'x' }) }));
    expect(ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'))).toEqual([]);
    expect(markers()).toEqual([]);
  });

  it('GC with a field of the wrong type and logLevel "verbose" still releases what is not listed, and logs the problems', () => {
    for (const id of ['keep', 'gone']) {
      node.pci(id === 'keep' ? '0000:00:07.0' : '0000:00:08.0', { driver: 'vfio-pci' });
      expect(run({ command: 'ADD', conf: conf({ deviceID: id === 'keep' ? '0000:00:07.0' : '0000:00:08.0' }), containerId: id }).code).toBe(0);
    }
    const g = run({ command: 'GC', conf: conf({ vlan: 'x', logLevel: 'verbose', 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }] }) });
    expectQuiet(g);
    expect(warnings(g).join('\n')).toMatch(/vlan/);
    expect(states()).toEqual(['life-net@keep@net1.json']);
  });

  it('GC with a malformed cni.dev/valid-attachments (the one thing it cannot do without) is refused (7) and releases nothing', () => {
    expect(run({ command: 'ADD', conf: conf() }).code).toBe(0);
    const g = run({ command: 'GC', conf: conf({ vlan: 'x', 'cni.dev/valid-attachments': { containerID: 'c0ffee' } }) });
    expectError(g, 7, 'cni.dev/valid-attachments');
    expect(states()).toEqual(['life-net@c0ffee@net1.json']);
  });
});

describe('#13.6 a state directory that is not a directory is a state error (107) naming it', () => {
  const paths = [STATE, `${STATE}/attachments`, `${STATE}/devices`, `${STATE}/known`];
  // expected code per command; undefined = that path is not used by that command (any non-internal outcome)
  const expected: Record<string, Record<string, number | undefined>> = {
    [STATE]: { ADD: 107, DEL: 107, CHECK: 107, GC: 107, STATUS: 50 },
    [`${STATE}/attachments`]: { ADD: 107, DEL: 107, CHECK: 107, GC: 107, STATUS: 50 },
    [`${STATE}/devices`]: { ADD: 107, DEL: 107, CHECK: undefined, GC: 107, STATUS: 50 },
    [`${STATE}/known`]: { ADD: 107, DEL: 0, CHECK: undefined, GC: 0, STATUS: 50 },
  };
  const cases = paths.flatMap((p) => ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'].map((cmd) => [p, cmd] as const));
  it.each(cases)('%s is a regular file: %s', (p, command) => {
    mkdirSync(dirname(at(p)), { recursive: true });
    writeFileSync(at(p), 'not a directory\n');
    const r = run({ command, conf: conf({ 'cni.dev/valid-attachments': [] }) });
    expect(r.json?.code, r.stdout + r.stderr).not.toBe(110);
    const want = expected[p]![command];
    if (want === 0) expectQuiet(r);
    else if (want !== undefined) expectError(r, want, at(p));
    expect(readFileSync(at(p), 'utf8')).toBe('not a directory\n');
  });
});

describe('#13.7 GC without the list of valid attachments releases nothing', () => {
  it('no cni.dev/valid-attachments nor cni.dev/attachments: every attachment stays, with a warning', () => {
    const ipamDir = at('ipam');
    const ipam = { type: 'host-local', subnet: '10.72.0.0/24', dataDir: ipamDir };
    expect(run({ command: 'ADD', conf: conf({ ipam }) }).code).toBe(0);
    const g = run({ command: 'GC', conf: conf({ ipam }) });
    expectQuiet(g);
    expect(warnings(g).join('\n')).toMatch(/cni\.dev\/valid-attachments/);
    expect(states()).toEqual(['life-net@c0ffee@net1.json']);
    expect(markers()).toEqual([`${PFLESS}.json`]);
    expect(ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'))).toEqual(['10.72.0.2']);
    // an empty list is a list: nothing is valid, everything goes
    expectQuiet(run({ command: 'GC', conf: conf({ ipam, 'cni.dev/valid-attachments': [] }) }));
    expect(states()).toEqual([]);
    expect(ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'))).toEqual([]);
  });
});

describe('#14.4 ADD and DEL of one attachment started together leave the node consistent', () => {
  it('40 rounds: either nothing remains, or a complete attachment (state "added", its marker, lease, device-info) that a second pod cannot take', async () => {
    const ipamDir = at('ipam');
    const outcomes = { released: 0, complete: 0 };
    for (let i = 0; i < 40; i++) {
      const cid = `race${i}`;
      const devinfo = `/var/run/k8s.cni.cncf.io/devinfo/cni/life-net-${cid}_net1`;
      const c = conf({ ipam: { type: 'host-local', subnet: '10.73.0.0/24', dataDir: ipamDir }, runtimeConfig: { CNIDeviceInfoFile: devinfo } });
      const addP = runAsync({ command: 'ADD', conf: c, containerId: cid });
      // vary the interleaving; nothing below depends on which one wins
      if (i % 4 !== 0) await new Promise((r) => setTimeout(r, (i % 8) * 5));
      const delP = runAsync({ command: 'DEL', conf: c, containerId: cid });
      const [a, d] = await Promise.all([addP, delP]);
      expect(a.code, `round ${i} ADD: ${a.stdout}${a.stderr}`).toBe(0);
      expect(d.code, `round ${i} DEL: ${d.stdout}${d.stderr}`).toBe(0);
      const leases = ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.'));
      const stFile = at(STATE, 'attachments', `life-net@${cid}@net1.json`);
      if (!existsSync(stFile)) {
        outcomes.released++;
        expect({ round: i, markers: markers(), leases, devinfo: existsSync(at(devinfo)) }).toEqual({ round: i, markers: [], leases: [], devinfo: false });
      } else {
        outcomes.complete++;
        const st = JSON.parse(readFileSync(stFile, 'utf8'));
        const marker = existsSync(at(STATE, 'devices', `${PFLESS}.json`)) ? JSON.parse(readFileSync(at(STATE, 'devices', `${PFLESS}.json`), 'utf8')) : undefined;
        expect({ round: i, phase: st.phase, owner: marker?.key?.containerID, leases: leases.length, devinfo: existsSync(at(devinfo)) })
          .toEqual({ round: i, phase: 'added', owner: cid, leases: 1, devinfo: true });
        const other = run({ command: 'ADD', conf: conf(), containerId: `other${i}` });
        expectError(other, 102, `already allocated to container ${cid}`);
        expectQuiet(run({ command: 'DEL', conf: c, containerId: cid }));
        expect({ states: states(), markers: markers(), leases: ls(join(ipamDir, 'life-net')).filter((f) => f.startsWith('10.')) })
          .toEqual({ states: [], markers: [], leases: [] });
      }
      expect(states()).toEqual([]);
    }
    console.log(`ADD+DEL race, 40 rounds: ${outcomes.released} ended released, ${outcomes.complete} ended complete; 0 inconsistent`);
  }, 300_000);
});

describe('#14.7 GC goes past a device whose lock is busy', () => {
  it('releases the others and fails with 11 naming the attachment it could not release; a retry finishes', async () => {
    const devs = ['0000:00:07.0', '0000:00:08.0', '0000:00:09.0'];
    for (const [i, pci] of devs.entries()) {
      node.pci(pci, { driver: 'vfio-pci' });
      expect(run({ command: 'ADD', conf: conf({ deviceID: pci }), containerId: `pod${i}` }).code).toBe(0);
    }
    const gc = () => run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [] }), env: { DPDK_CNI_LOCK_TIMEOUT_MS: '300' } });
    for (const busy of [0, 2]) {
      // re-create what the previous iteration released
      for (const [i, pci] of devs.entries()) {
        if (!existsSync(at(STATE, 'attachments', `life-net@pod${i}@net1.json`))) {
          expect(run({ command: 'ADD', conf: conf({ deviceID: pci }), containerId: `pod${i}` }).code).toBe(0);
        }
      }
      const srv = await holdLock(devs[busy]!);
      try {
        const g = gc();
        expectError(g, 11, `pod${busy}/net1`, devs[busy]!);
        expect(states()).toEqual([`life-net@pod${busy}@net1.json`]);
        expect(markers()).toEqual([`${devs[busy]}.json`]);
      } finally {
        await new Promise((r) => srv.close(r));
      }
      expectQuiet(gc());
      expect(states()).toEqual([]);
      expect(markers()).toEqual([]);
    }
  }, 120_000);
});
