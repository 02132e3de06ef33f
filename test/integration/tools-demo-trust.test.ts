import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, isRoot, REPO, tempDir } from '../helpers/cni.js';

/**
 * `npm run demo` (demo/run.mjs) proves what it claims: every refusal it shows is the refusal it
 * names — its CNI code and a message giving that reason — not another error that happens to be an
 * error (a device still busy from an earlier step answered 102 for "VLAN on a PF-less device" and
 * for "MTU above the PF's"). It runs as root and, as README promises, without root.
 */
function demo(asNobody: boolean, bin = BIN): { code: number | null; out: string } {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', DPDK_CNI_BIN: bin };
  const [cmd, args] = asNobody
    ? ['runuser', ['-u', 'nobody', '--', process.execPath, join(REPO, 'demo/run.mjs')]]
    : [process.execPath, [join(REPO, 'demo/run.mjs')]];
  const r = spawnSync(cmd, args, { cwd: '/', env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The CNI answer the demo printed just before the line of a claim. */
function answerBefore(out: string, claim: string): any {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => l.includes(claim));
  expect(i, `no "${claim}" line in the demo output:\n${out}`).toBeGreaterThan(0);
  for (let k = i - 1; k >= 0; k--) {
    const t = (lines[k] ?? '').trim();
    if (t.startsWith('{')) return JSON.parse(t);
  }
  throw new Error(`no CNI answer before "${claim}"`);
}

function claimsHold(out: string): void {
  const vlan = answerBefore(out, 'a VLAN on a PF-less device is refused');
  expect(vlan.code).toBe(103);
  expect(vlan.msg).toMatch(/has no PF.*vlan cannot be applied/);
  const mtu = answerBefore(out, 'an MTU above the PF MTU is refused');
  expect(mtu.code).toBe(2);
  expect(mtu.msg).toMatch(/"mtu" 9600 is above the MTU of PF ens1f0 \(9000\)/);
  const busy = answerBefore(out, 'a second pod asking for the same device is refused');
  expect(busy.code).toBe(102);
  expect(out).not.toContain('✗');
  expect(out).toContain('demo finished: everything behaved as expected');
}

describe('the demo', () => {
  it.runIf(isRoot)('as root: each refusal it claims is that refusal (code and reason), exit 0', () => {
    const r = demo(false);
    claimsHold(r.out);
    expect(r.out).toContain('ADD moved the VF netdev into the pod');
    expect(r.code).toBe(0);
  }, 150_000);

  it.runIf(isRoot)('as nobody (no root): the same claims hold, exit 0', () => {
    const r = demo(true);
    claimsHold(r.out);
    expect(r.out).toContain('skipped: not root');
    expect(r.code).toBe(0);
  }, 150_000);

  it('a wrong refusal is caught: a plugin answering "device busy" where the demo expects another reason makes it fail', () => {
    const d = tempDir('dpdk-cni-demo-fake-');
    try {
      // the real plugin, except that a netconf with a VLAN or MTU 9600 gets 102 (device busy)
      const fake = join(d.path, 'busy-plugin');
      writeFileSync(fake, `#!/bin/bash
in=$(cat)
if [[ $CNI_COMMAND == ADD && ( $in == *'"vlan"'* || $in == *'"mtu":9600'* ) ]]; then
  echo '{"cniVersion":"1.1.0","code":102,"msg":"device busy","details":""}'; exit 1
fi
printf '%s' "$in" | exec ${BIN}
`);
      chmodSync(fake, 0o755);
      const r = demo(false, fake);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/✗ a VLAN on a PF-less device is refused/);
      expect(r.out).toMatch(/✗ an MTU above the PF MTU is refused/);
      expect(r.out).toContain('demo finished with 2 unexpected result(s)');
    } finally {
      d.cleanup();
    }
  }, 150_000);
});
