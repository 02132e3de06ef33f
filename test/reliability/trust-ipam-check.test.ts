/**
 * Found by the attack session of issue #13: CHECK of a 1.1.0 network whose IPAM plugin speaks an
 * older version (Debian's `static` stops at 1.0.0) retried the IPAM CHECK without its prevResult,
 * so `static` answered "Required prevResult missing" and every CHECK failed with 108. The
 * prevResult is now converted to the version the plugin speaks. Real Debian plugin, DPDK mode on a
 * simulated node.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cni, tempDir, type CniCall, type RunResult } from '../helpers/cni.js';
import { SimNode } from '../sim/simnode.mjs';

const LIVE = `/proc/${process.pid}/ns/net`;
const PF = '0000:3b:00.0';
const STATIC = '/usr/lib/cni/static';

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let vfs: string[];
beforeEach(() => {
  dir = tempDir('dpdk-cni-ipamcheck-');
  node = new SimNode(join(dir.path, 'node'));
  vfs = node.sriovPf(PF, { netdev: 'ens1f0', numVfs: 2 });
});
afterEach(() => dir.cleanup());
const call = (c: Omit<CniCall, 'root'>): RunResult => cni({ netns: LIVE, path: '/usr/lib/cni', ...c, root: node.root });

describe.runIf(existsSync(STATIC))('CHECK with an IPAM plugin older than the network (static)', () => {
  it('ADD then CHECK with the ADD result as prevResult passes (the IPAM CHECK gets the prevResult, converted to 1.0.0)', () => {
    const conf = { cniVersion: '1.1.0', name: 'static-net', type: 'dpdk-cni', deviceID: vfs[0], ipam: { type: 'static', addresses: [{ address: '10.9.9.9/24' }] } };
    const add = call({ command: 'ADD', conf, containerId: 'c1' });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips).toEqual([expect.objectContaining({ address: '10.9.9.9/24' })]);
    const check = call({ command: 'CHECK', conf: { ...conf, prevResult: add.json }, containerId: 'c1' });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(call({ command: 'DEL', conf, containerId: 'c1' }).code).toBe(0);
  });
});
