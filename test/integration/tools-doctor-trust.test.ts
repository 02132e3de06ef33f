import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cni, isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { awsNode, ENA_VFIO } from './tools-helpers.js';

/**
 * The fixes `dpdk-cni doctor` prints work as printed: each one is run with bash, exactly as shown,
 * on a simulated node, and doctor is asked again whether the finding is gone.
 */
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-docfix-');
});
afterEach(() => dir.cleanup());

/** doctor as an operator runs it from a checkout: "node dist/dpdk-cni doctor" (dpdk-cni is not on PATH). */
const script = readFileSync(BIN, { encoding: 'latin1' }).startsWith('#!');
function doctor(root: string): any {
  const [cmd, args] = script ? [process.execPath, [BIN]] : [BIN, []];
  const r = spawnSync(cmd, [...args, 'doctor', '--json'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DPDK_CNI_ROOT: root }, encoding: 'utf8' });
  return JSON.parse(r.stdout);
}
const check = (j: any, id: string): any => j.checks.find((c: any) => c.id === id);

function runFix(fix: string, root: string): void {
  // the command is what follows the last ": " (the prose before it says when to use it)
  const line = fix.slice(fix.lastIndexOf(': ') + 2);
  expect(line).toContain(root); // it acts on the simulated node, not on this machine
  const r = spawnSync('bash', ['-c', line], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, encoding: 'utf8' });
  expect(r.status, `${line}\n${r.stdout}${r.stderr}`).toBe(0);
}

describe('doctor fixes work as printed', () => {
  it('cni-binary: the printed install command, run as shown, installs this executable (also when doctor runs as "node dist/dpdk-cni")', () => {
    const n = awsNode(dir.path);
    const before = check(doctor(n.root), 'cni-binary');
    expect(before.status).toBe('fail');
    expect(before.fix).not.toContain('command -v');
    runFix(before.fix, n.root);
    const after = check(doctor(n.root), 'cni-binary');
    expect(after.status, after.message).toBe('pass');
  });

  it.runIf(isRoot && existsSync('/usr/lib/cni/host-local'))('stale attachment: the printed DEL, run as shown, releases it and its IPAM lease from /usr/lib/cni', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'opt/cni/bin'), { recursive: true });
    copyFileSync(BIN, join(n.root, 'opt/cni/bin/dpdk-cni'));
    const dataDir = join(n.root, 'ipam');
    const net = new NetFixture();
    try {
      const netns = net.netns('gone');
      const conf = { cniVersion: '1.0.0', name: 'ena-net', type: 'dpdk-cni', deviceID: ENA_VFIO, ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir } };
      const add = cni({ command: 'ADD', root: n.root, netns, containerId: 'stale0002', conf, path: '/usr/lib/cni' });
      expect(add.code, add.stdout).toBe(0);
      expect(readdirSync(join(dataDir, 'ena-net'))).toContain('10.77.0.2');
      sh('ip', ['netns', 'del', netns.split('/').pop() as string]);
      const c = check(doctor(n.root), `state:${ENA_VFIO}`);
      expect(c.status).toBe('warn');
      runFix(c.fix, n.root);
      const after = doctor(n.root);
      expect(check(after, 'state').status).toBe('pass');
      expect(check(after, 'state').message).toBe('no attachments in /var/lib/cni/dpdk-cni');
      expect(readdirSync(join(dataDir, 'ena-net'))).not.toContain('10.77.0.2');
    } finally {
      net.cleanup();
    }
  });
});
