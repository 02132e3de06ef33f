import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';

/** Run a node tool of the built executable the way an operator does: argv, no CNI_COMMAND. */
export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export function tool(args: string[], root?: string, env: Record<string, string> = {}): ToolRun {
  const e: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...env };
  if (root) e.DPDK_CNI_ROOT = root;
  const r = spawnSync(BIN, args, { env: e, encoding: 'utf8', timeout: 60_000 });
  let json: any;
  try {
    json = r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

export function read(root: string, p: string): string | undefined {
  const f = join(root, p);
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
}

export const ENA_VFIO = '0000:00:06.0';
export const ENA_KERNEL = '0000:00:07.0';
export const ENA_MAC = '02:1d:0f:00:00:07';

/**
 * An AWS EC2-style node: no IOMMU, vfio in no-IOMMU mode, ENA NICs (1d0f:ec20) without PFs, one
 * already on vfio-pci (with its vfio-noiommu group and /dev/vfio nodes), one on the ena driver with
 * a netdev; 2 MiB hugepages reserved and mounted.
 */
export function awsNode(root: string, opts: { netdev?: string } = {}): SimNode {
  const n = new SimNode(root);
  n.noiommu(true);
  n.driver('vfio-pci');
  n.pci(ENA_VFIO, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20', iommuGroup: false });
  n.noiommuGroup(ENA_VFIO);
  n.vfioNodes(ENA_VFIO);
  n.pci(ENA_KERNEL, { driver: 'ena', vendor: '1d0f', device: 'ec20', iommuGroup: false });
  n.netdev(ENA_KERNEL, opts.netdev ?? 'ens7', { mac: ENA_MAC, mtu: 9001 });
  // the instance's root disk: NVMe, not a network device
  n.pci('0000:00:04.0', { driver: 'nvme', vendor: '1d0f', device: '8061', iommuGroup: false, pciClass: '0x010802' });
  n.hugepages(2048, 512);
  n.hugepages(1048576, 0);
  n.mount('hugetlbfs', '/dev/hugepages', 'hugetlbfs', 'rw,relatime,pagesize=2M');
  return n;
}

export const PF = '0000:3b:00.0';

/**
 * A bare-metal SR-IOV node with an IOMMU: an ice PF (ens1f0) with 4 VFs (VF 0-1 on vfio-pci with
 * /dev/vfio nodes, VF 2-3 on iavf with netdevs), plus a ConnectX VF-like function with a vhost-vdpa
 * device. Returns the VF addresses.
 */
export function sriovNode(root: string): { node: SimNode; vfs: string[]; vdpaPci: string } {
  const n = new SimNode(root);
  n.iommu('dmar0');
  n.driver('vfio-pci');
  const vfs = n.sriovPf(PF, {
    netdev: 'ens1f0', numVfs: 4, mtu: 9000,
    vfOpts: (i) => (i < 2 ? { driver: 'vfio-pci' } : { driver: 'iavf', netdev: `ens1f0v${i}`, mac: `02:00:00:00:00:0${i}` }),
  });
  for (const vf of vfs.slice(0, 2)) n.vfioNodes(vf);
  const vdpaPci = '0000:5e:00.2';
  n.pci(vdpaPci, { driver: 'mlx5_core', vendor: '15b3', device: '101e' });
  n.vdpa(vdpaPci, 'vdpa0', 'vhost_vdpa', { index: 0 });
  n.hugepages(2048, 0);
  n.hugepages(1048576, 8, 8);
  return { node: n, vfs, vdpaPci };
}

/** every file under the node root with its content (a node "changes nothing" when this is equal) */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[p.slice(root.length)] = `${readFileSync(p, 'utf8')}|${statSync(p).mode}`;
    }
  };
  walk(root);
  return out;
}
