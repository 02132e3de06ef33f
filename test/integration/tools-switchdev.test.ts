import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cni.js';
import { PF, sriovNode, tool } from './tools-helpers.js';

/**
 * A PF in switchdev mode: its net/ directory holds the uplink (phys_port_name p0) and one
 * representor per VF (pf0vfN), and here the representors sort before the uplink. CNI ADD takes
 * the uplink as the PF's netdev; the node tools read devices through the same scanner, so they
 * must name the uplink too, never a representor.
 */
let dir: { path: string; cleanup: () => void };
let vfs: string[];
beforeEach(() => {
  dir = tempDir('dpdk-cni-switchdev-');
  const s = sriovNode(dir.path);
  vfs = s.vfs;
  const pfNet = join(s.node.realDir(PF), 'net');
  writeFileSync(join(pfNet, 'ens1f0', 'phys_port_name'), 'p0\n');
  for (let i = 0; i < vfs.length; i++) {
    mkdirSync(join(pfNet, `ens0pf0vf${i}`), { recursive: true });
    writeFileSync(join(pfNet, `ens0pf0vf${i}`, 'phys_port_name'), `pf0vf${i}\n`);
  }
});
afterEach(() => dir.cleanup());

describe('switchdev PF: the node tools name the uplink, as CNI ADD does', () => {
  it('inspect of a VF names the PF uplink and its MTU', () => {
    const r = tool(['inspect', vfs[1]!, '--json'], dir.path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.pf).toMatchObject({ pci: PF, netdev: 'ens1f0', vfIndex: 1, mtu: 9000 });
    expect(r.json.plugin.actions.join('\n')).toContain(`VF 1 of PF ens1f0 (${PF})`);
  });

  it('doctor lists the PF by its uplink and each VF as "VF n of <uplink>"', () => {
    const r = tool(['doctor', '--json', '--skip', 'cni-binary,state,dp-config'], dir.path);
    const msg = (id: string) => r.json.checks.find((c: any) => c.id === id)?.message as string;
    expect(msg(`nic:${PF}`)).toMatch(new RegExp(`^${PF}, [0-9a-f]{4}:1592, ice, ens1f0, PF with 4 VFs`));
    expect(msg(`nic:${vfs[1]}`)).toContain('VF 1 of ens1f0,');
    expect(r.stdout).not.toMatch(/ens0pf0vf/);
  });

  it('dp-config selects VFs by the uplink name (pfNames ens1f0#0-1)', () => {
    const r = tool(['dp-config', '-r', 'intel.com/vf=pf:ens1f0#0-1'], dir.path);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).resourceList[0].selectors).toEqual([{ pfNames: ['ens1f0#0-1'] }]);
    expect(r.stderr).toMatch(/intel\.com\/vf.*2 device/);
  });
});
