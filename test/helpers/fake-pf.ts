import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimNode } from '../../src/sim/simnode.js';
import { REPO } from './cni.js';

/** A VF as `ip -j -d link show` of its PF lists it, with the kernel's defaults. */
export const fakeVf = (vf: number) => ({ vf, link_type: 'ether', address: '00:00:00:00:00:00', vlan_list: [{}], tx_rate: 0, rate: { max_tx: 0, min_tx: 0 }, spoofchk: true, link_state: 'auto', trust: false });

/**
 * An SR-IOV PF of the simulated node whose VF table test/helpers/fake-ip.mjs plays: the PF exists
 * only in the simulated sysfs, so the test build's `ip` (DPDK_CNI_TEST_TOOLS) prints its VFs as
 * `ip -j -d link show` does and applies `ip link set dev PF vf N ...` to the JSON file `fake`.
 * `env` is what a call of the test build needs for it.
 */
export function fakeIpPf(node: SimNode, pci: string, opts: { netdev: string; numVfs: number; mtu: number }): { vfs: string[]; fake: string; env: { DPDK_CNI_TEST_TOOLS: string; FAKE_IP_STATE: string } } {
  const vfs = node.sriovPf(pci, opts);
  const tools = join(node.root, 'tools');
  mkdirSync(tools);
  symlinkSync(join(REPO, 'test/helpers/fake-ip.mjs'), join(tools, 'ip'));
  const fake = join(node.root, 'fake-ip.json');
  writeFileSync(fake, JSON.stringify({ [opts.netdev]: { mtu: opts.mtu, vfinfo_list: vfs.map((_, i) => fakeVf(i)) } }));
  return { vfs, fake, env: { DPDK_CNI_TEST_TOOLS: tools, FAKE_IP_STATE: fake } };
}
