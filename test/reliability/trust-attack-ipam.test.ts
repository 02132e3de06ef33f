/**
 * Found by the attack session of issue #13: CHECK of a 1.1.0 network whose IPAM plugin speaks an
 * older version (Debian's `static` stops at 1.0.0) retried the IPAM CHECK without its prevResult,
 * so `static` answered "Required prevResult missing" and every CHECK failed with 108. The
 * prevResult is now converted to the version the plugin speaks. Real Debian plugin, DPDK mode on a
 * simulated node.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cni, cniEnv, tempDir, type CniCall, type RunResult } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';

const LIVE = `/proc/${process.pid}/ns/net`;
const PF = '0000:3b:00.0';
const STATIC = '/usr/lib/cni/static';

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let vfs: string[];
beforeEach(() => {
  dir = tempDir('dpdk-cni-atkipam-');
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

/**
 * Found by the attack session: a runtime that kills the plugin during IPAM ADD (SIGTERM, or SIGKILL
 * as Go's exec.CommandContext does on timeout) left the IPAM plugin running; it allocated after the
 * runtime's DEL had released, and the lease leaked. The IPAM plugin now dies with us.
 */
describe('the IPAM plugin dies with a killed dpdk-cni', () => {
  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${sig} during IPAM ADD: the plugin is gone and never allocates`, async () => {
      const bin = join(dir.path, 'ipam-bin');
      mkdirSync(bin, { mode: 0o755 });
      chmodSync(bin, 0o755);
      chmodSync(dir.path, 0o755);
      const pidFile = join(dir.path, 'ipam.pid');
      const lease = join(dir.path, 'lease');
      // waits for a go-ahead that never comes on its own, then "allocates"
      writeFileSync(
        join(bin, 'slow-ipam'),
        `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || { echo '{"cniVersion":"1.1.0"}'; exit 0; }\necho $$ > ${pidFile}\nwhile [ ! -e ${pidFile}.go ]; do sleep 0.1; done\ntouch ${lease}\necho '{"cniVersion":"1.1.0","ips":[{"address":"10.1.1.1/24"}]}'\n`,
        { mode: 0o755 },
      );
      const conf = { cniVersion: '1.1.0', name: 'kill-net', type: 'dpdk-cni', deviceID: vfs[1], ipam: { type: 'slow-ipam' } };
      const p = spawn(BIN, [], { env: cniEnv({ command: 'ADD', conf, containerId: 'k1', netns: LIVE, path: bin, root: node.root }), stdio: ['pipe', 'ignore', 'ignore'] });
      p.stdin.end(JSON.stringify(conf));
      await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
      const ipamPid = Number(readFileSync(pidFile, 'utf8'));
      p.kill(sig);
      await once(p, 'exit');
      await until(() => !alive(ipamPid));
      writeFileSync(`${pidFile}.go`, ''); // a surviving plugin would allocate now
      expect(existsSync(lease)).toBe(false);
      // and the runtime's DEL finds the write-ahead state and releases
      const del = cni({ command: 'DEL', conf, containerId: 'k1', netns: LIVE, path: bin, root: node.root });
      expect(del.code, del.stdout + del.stderr).toBe(0);
    });
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !f(); i++) await new Promise((r) => setTimeout(r, 100));
  expect(f()).toBe(true);
}
