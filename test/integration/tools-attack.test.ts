import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cni, isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { SimNode } from '../sim/simnode.mjs';
import { awsNode, ENA_KERNEL, PF, read, tool } from './tools-helpers.js';

/**
 * Issue #14: the node tools attacked as the plugin was — hostile arguments, a host in use, a
 * messy node. Each test here broke a promise of the README/docs on the code before its fix.
 */
let dir: { path: string; cleanup: () => void };
let net: NetFixture;
const extra: string[] = [];
beforeEach(() => {
  dir = tempDir('dpdk-cni-attack-');
  net = new NetFixture();
});
afterEach(() => {
  for (const l of extra.splice(0)) sh('ip', ['link', 'del', l]);
  net.cleanup();
  dir.cleanup();
});

const FAST = ['--timeout', '0.2'];
const override = (pci: string) => `sys/bus/pci/devices/${pci}/driver_override`;
function ip(...a: string[]): void {
  const r = sh('ip', a);
  if (r.code !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
}
/** Nothing of the simulated AWS node's kernel NIC was touched. */
function untouched(root: string): void {
  expect(read(root, override(ENA_KERNEL))).toBe('(null)\n');
  expect(read(root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
  expect(read(root, 'sys/bus/pci/drivers_probe')).toBe('');
  expect(read(root, `var/lib/cni/dpdk-cni/known/${ENA_KERNEL}.json`)).toBeUndefined();
}

describe.runIf(isRoot)('a host in use', () => {
  it('rebinding or unbinding an SR-IOV PF whose VF netdev the host uses is refused (it would destroy that VF)', () => {
    const vfIf = net.veth(`dv${net.id}`);
    ip('link', 'set', vfIf, 'up');
    ip('addr', 'add', '198.18.78.40/24', 'dev', vfIf);
    const n = new SimNode(dir.path);
    n.iommu('dmar0');
    n.driver('vfio-pci');
    const vfs = n.sriovPf(PF, { netdev: 'nosuchpf0', numVfs: 2, vfOpts: (i) => (i === 1 ? { driver: 'iavf', netdev: vfIf, mac: '02:00:00:00:00:01' } : { driver: 'vfio-pci' }) });
    for (const args of [['unbind', PF], ['bind', PF, '--driver', 'vfio-pci'], ['bind', PF, '--driver', 'vfio-pci', '--dry-run']]) {
      const r = tool([...args, ...FAST], n.root);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`VF 1 (${vfs[1]}) netdev ${vfIf} is used by the host: ${vfIf} is up with addresses 198.18.78.40/24`);
      expect(r.stderr).toContain('rebinding the PF destroys them');
    }
    expect(read(n.root, 'sys/bus/pci/drivers/ice/unbind')).toBe('');
    expect(read(n.root, override(PF))).toBe('(null)\n');
    // --force still overrides, as for every other safety check
    const f = tool(['unbind', PF, '--force', ...FAST], n.root);
    expect(f.stdout).toContain('--force: going ahead although');
    expect(read(n.root, 'sys/bus/pci/drivers/ice/unbind')).toBe(PF);
  });
});
