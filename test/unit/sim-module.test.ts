// The simulated node is one typed module (src/sim/simnode.ts). Tests import it directly; the Node
// scripts in demo/, bench/ and build/ cannot import .ts and import dist/sim/simnode.mjs, which
// build/bundle.mjs compiles from it. These tests hold the two to the same tree, and keep the
// simulator out of the plugin that goes on a node.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as typed from '../../src/sim/simnode.js';
import { REPO } from '../helpers/cni.js';

const work = mkdtempSync(join(tmpdir(), 'dpdk-cni-simmod-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Sim = typeof typed;

/** One of every device shape the simulator makes. */
function populate(sim: Sim, root: string): void {
  const n = new sim.SimNode(root);
  n.iommu();
  n.noiommu(false);
  n.hugepages(2048, 512, 500);
  n.mount('hugetlbfs', '/dev/hugepages', 'hugetlbfs', 'rw,relatime,pagesize=2M');
  n.pci('0000:00:06.0', { vendor: '1d0f', device: 'ec20', driver: 'vfio-pci' });
  n.vfioNodes('0000:00:06.0');
  n.pci('0000:00:07.0', { driver: 'vfio-pci', iommuGroup: false });
  n.noiommuGroup('0000:00:07.0');
  const vfs = n.sriovPf('0000:3b:00.0', { numVfs: 3, vfOpts: (i) => (i === 1 ? { driver: 'iavf', netdev: 'ens1f0v1', mac: '02:00:00:00:00:11' } : {}) });
  n.pci('0000:5e:00.2', { driver: 'mlx5_core' });
  n.vdpa('0000:5e:00.2', 'vdpa0', 'vhost_vdpa', { index: 0 });
  n.pci('0000:5e:00.3', { driver: 'mlx5_core' });
  n.vdpa('0000:5e:00.3', 'vdpa1', 'virtio_vdpa', { index: 1, netdev: 'eth9' });
  n.unbind(vfs[2] ?? '');
}

/** Every entry under dir: its path, and a link's target or a file's content. */
function tree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = join(rel, name);
    const st = lstatSync(join(dir, p));
    if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(join(dir, p))}`);
    else if (st.isDirectory()) out.push(`${p}/`, ...tree(dir, p));
    else out.push(`${p} = ${JSON.stringify(readFileSync(join(dir, p), 'utf8'))}`);
  }
  return out;
}

describe('the simulated node module', () => {
  it('dist/sim/simnode.mjs (what demo/, bench/ and build/ import) builds the same sysfs tree as src/sim/simnode.ts', async () => {
    const built = (await import(pathToFileURL(join(REPO, 'dist/sim/simnode.mjs')).href)) as Sim;
    populate(typed, join(work, 'typed'));
    populate(built, join(work, 'built'));
    const want = tree(join(work, 'typed'));
    expect(want.length).toBeGreaterThan(100);
    expect(want).toContain('sys/bus/pci/devices/0000:3b:02.1 -> ../../../devices/pci0000:00/0000:3b:02.1');
    expect(tree(join(work, 'built'))).toEqual(want);
  });

  it('is not in the plugin executable: no simulator code ships to a node', () => {
    for (const bin of ['dist/dpdk-cni', 'dist/test/dpdk-cni']) {
      const text = readFileSync(join(REPO, bin), 'utf8');
      expect(text.length).toBeGreaterThan(10_000);
      // the class name may be minified away; its method names survive minification (node tools
      // read sriov_totalvfs themselves now, so a sysfs file name is no marker)
      for (const marker of ['SimNode', 'sriovPf', 'noiommuGroup', 'vfioNodes']) expect(text, `${bin}: ${marker}`).not.toContain(marker);
    }
  });
});
