/**
 * Rules of docs/security.md and the README that no other test tried (found while building the rule
 * → test table, "Each rule and the test that tries it"): the cap on violations listed in one
 * message, the PATH_MAX bound on CNI_NETNS, the 64 KiB bound on a device-info file found at the
 * path, and code 109 for a device-info file that cannot be written. Each runs the built executable
 * on a simulated node, as trust-paths.test.ts does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CniCall } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';
import { spawnCni, type ExecResult } from './lib/run.js';
import { scratchBase } from './lib/world.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const DEV = '0000:00:06.0';
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;

let dir: string;
let node: SimNode;

beforeEach(() => {
  dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-proof-'));
  node = new SimNode(join(dir, 'node'));
  node.pci(DEV, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'proof-net', type: 'dpdk-cni', deviceID: DEV, ...extra });
const at = (p: string) => join(node.root, p);
const ls = (p: string) => (existsSync(at(p)) ? readdirSync(at(p)) : []);
async function run(c: Omit<CniCall, 'root'>): Promise<ExecResult> {
  const r = await spawnCni({ netns: LIVE, ...c, root: node.root }, 30_000);
  expect(r.stdout).not.toMatch(STACK);
  expect(r.stderr).not.toMatch(STACK);
  return r;
}
/** ADD refused with `code`, nothing attached. */
function refused(r: ExecResult, code: number): string {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.json?.code, r.stdout).toBe(code);
  expect(ls('var/lib/cni/dpdk-cni/attachments')).toEqual([]);
  expect(ls('var/lib/cni/dpdk-cni/devices')).toEqual([]);
  return r.json.msg as string;
}

describe('security.md "Input size and shape": at most 20 violations are listed in one message', () => {
  it('a netconf with 21 violations gets one error (7) listing 20 of them and counting the rest', async () => {
    const wrong: Record<string, unknown> = {};
    // 18 fields of the wrong type, plus the name, the deviceID and the CNI_ARGS MAC: 21 violations
    for (const k of ['vdpaDevice', 'allowInUse', 'vlan', 'vlanQoS', 'vlanProto', 'mac', 'mtu', 'spoofchk', 'trust', 'link_state', 'min_tx_rate', 'max_tx_rate', 'ipam', 'dns', 'logLevel', 'runtimeConfig', 'args', 'prevResult']) {
      wrong[k] = [[1]];
    }
    const r = await run({ command: 'ADD', conf: conf({ ...wrong, name: 'bad/name', deviceID: 'evil' }), args: 'IgnoreUnknown=1;MAC=zz' });
    const msg = refused(r, 7);
    expect(msg).toMatch(/; and 1 more$/);
    const listed = msg.replace(/^invalid network configuration: /, '').replace(/; and 1 more$/, '').split('; ');
    expect(listed).toHaveLength(20);
    expect(listed[0]).toContain('field "name"');
  });
});

describe('security.md "Devices": CNI_NETNS is at most 4095 bytes (PATH_MAX)', () => {
  it('an absolute CNI_NETNS of 4096 bytes is refused with 4 saying so, quoting at most 80 characters of it', async () => {
    const netns = `/run/netns/${'n'.repeat(4096 - '/run/netns/'.length)}`;
    expect(Buffer.byteLength(netns)).toBe(4096);
    const msg = refused(await run({ command: 'ADD', conf: conf(), netns }), 4);
    expect(msg).toContain('CNI_NETNS');
    expect(msg).toContain('longer than 4095 bytes');
    expect(msg.length).toBeLessThan(400);
  });
});

describe('security.md "Files": a device-info file larger than 64 KiB at the path is refused', () => {
  it('ADD with the attachment\'s own Multus-named file of 70 KB there → 7 naming the size; the file is left as it was', async () => {
    const name = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-proof-net-c0ffee_net1';
    const big = `{"type":"pci","version":"1.1.0","pad":"${'x'.repeat(70_000)}"}`;
    mkdirSync(dirname(at(name)), { recursive: true });
    writeFileSync(at(name), big);
    const msg = refused(await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: name } }) }), 7);
    expect(msg).toContain('CNIDeviceInfoFile');
    expect(msg).toContain(`larger than ${64 * 1024} bytes`);
    expect(readFileSync(at(name), 'utf8')).toBe(big);
  });
});

describe.runIf(process.getuid?.() === 0)('README "Error codes" 109: the device-info file could not be written', () => {
  it('devinfo/cni on a read-only filesystem: ADD fails with 109 naming the file and why; nothing is attached', async () => {
    const name = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-proof-net-c0ffee_net1';
    const cniDir = dirname(at(name));
    mkdirSync(cniDir, { recursive: true });
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'dcni-proof-ro', cniDir]).status).toBe(0);
    try {
      const msg = refused(await run({ command: 'ADD', conf: conf({ runtimeConfig: { CNIDeviceInfoFile: name } }) }), 109);
      expect(msg).toContain('cannot write device-info file');
      expect(msg).toContain('read-only file system');
      // about the file being written, not the clean-up of a temp file that never existed
      expect(msg).not.toMatch(/unlink/);
    } finally {
      spawnSync('umount', [cniDir]);
    }
  });
});
