import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { awsNode, ENA_KERNEL, ENA_VFIO, PF, read, sriovNode, tool } from './tools-helpers.js';

/**
 * The node tools apply the test CNI ADD applies (src/net/usage.ts): a netdev the host
 * uses (address, route, bridge, macvlan with addresses) and an SR-IOV PF whose VFs are in pods
 * (issue #13 item 3, #14 items 2 and 3). The simulated NIC's netdev is a real veth in the host.
 */
let dir: { path: string; cleanup: () => void };
let net: NetFixture;
const extra: string[] = [];
beforeEach(() => {
  dir = tempDir('dpdk-cni-inuse-tools-');
  net = new NetFixture();
});
afterEach(() => {
  for (const l of extra.splice(0)) sh('ip', ['link', 'del', l]);
  net.cleanup();
  dir.cleanup();
});

const LIVE = `/proc/${process.pid}/ns/net`;
const dev = (pci: string) => `sys/bus/pci/devices/${pci}`;
const FAST = ['--timeout', '0.2'];
function ip(...a: string[]): void {
  const r = sh('ip', a);
  if (r.code !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
}
/** An allocation marker as CNI ADD writes it: the device is in a pod whose netns is alive. */
function allocate(root: string, pci: string, containerID: string): void {
  const d = join(root, 'var/lib/cni/dpdk-cni/devices');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `${pci}.json`), JSON.stringify({ key: { net: 'dpdk-net', containerID, ifname: 'net1' }, netns: LIVE }));
}
/** The AWS-like node whose kernel NIC is a real veth carrying a host address and a route. */
function hostNic(): { root: string; ifname: string } {
  const ifname = net.veth(`dt${net.id}`);
  ip('link', 'set', ifname, 'up');
  ip('addr', 'add', '192.0.2.10/24', 'dev', ifname);
  ip('route', 'add', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', ifname);
  return { root: awsNode(dir.path, { netdev: ifname }).root, ifname };
}

describe.runIf(isRoot)('inspect, doctor and dp-config say when the host uses a NIC', () => {
  it('inspect: ADD would fail with 111, naming the address and route (exit 1)', () => {
    const { root, ifname } = hostNic();
    const r = tool(['inspect', ENA_KERNEL], root);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`used by the host: ${ifname} is up with addresses 192.0.2.10/24 and routes`);
    expect(r.stdout).toMatch(/CNI ADD would fail: PCI device 0000:00:07\.0 is in use by the host: .*198\.51\.100\.0\/24 via 192\.0\.2\.1.* \(code 111\)/);
    const j = tool(['inspect', ENA_KERNEL, '--json'], root);
    expect(j.json.plugin.refusalCode).toBe(111);
    expect(j.json.netdev.inUse).toBe(true);
  });

  it('dp-config will not put the host\'s NIC into a pool; doctor says the host uses it', () => {
    const { root, ifname } = hostNic();
    const r = tool(['dp-config', '-r', 'aws.amazon.com/ena=vendor:1d0f,device:ec20', '--write'], root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${ENA_KERNEL} (${ifname}) is in use by the host: ${ifname} is up with addresses 192.0.2.10/24`);
    expect(r.stderr).toContain('CNI ADD refuses it (code 111)');
    expect(read(root, 'etc/pcidp/config.json')).toBeUndefined();
    // the pool without it is fine
    expect(tool(['dp-config', '-r', 'aws.amazon.com/ena=vendor:1d0f,driver:vfio-pci'], root).code).toBe(0);
    const d = tool(['doctor', '--json'], root);
    const nic = d.json.checks.find((c: any) => c.id === `nic:${ENA_KERNEL}`);
    expect(nic.message).toContain(`used by the host (${ifname} is up with addresses 192.0.2.10/24`);
    expect(nic.message).toContain('CNI ADD refuses it (code 111)');
  });
});

describe('inspect: an SR-IOV PF', () => {
  it('is an SR-IOV PF with N VFs (and how many in use), not "a whole NIC"; with a VF in a pod, ADD would fail with 102', () => {
    const { node, vfs } = sriovNode(dir.path);
    const r = tool(['inspect', PF], node.root);
    expect(r.stdout).toContain('SR-IOV PF with 4 VF(s), 0 in use');
    expect(r.stdout).not.toContain('no PF (a whole NIC');
    allocate(node.root, vfs[0] as string, 'pod-a');
    const used = tool(['inspect', PF, '--json'], node.root);
    expect(used.json.sriov).toEqual({ numVfs: 4, vfsInUse: [{ index: 0, pci: vfs[0], containerID: 'pod-a', network: 'dpdk-net' }] });
    expect(used.json.plugin.refusalCode).toBe(102);
    expect(used.json.plugin.refusal).toContain(`VF 0 (${vfs[0]}) is attached to container pod-a`);
    expect(tool(['inspect', PF], node.root).stdout).toContain(`SR-IOV PF with 4 VF(s), 1 in use (VF 0 ${vfs[0]} by container pod-a)`);
  });
});

describe('bind/unbind refuse what the host or a pod uses, and check every device before touching any', () => {
  it('unbind of a PF whose VF is in a live pod is refused (it would destroy the VF); --force overrides', () => {
    const { node, vfs } = sriovNode(dir.path);
    allocate(node.root, vfs[1] as string, 'pod-b');
    const r = tool(['unbind', PF], node.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`SR-IOV PF ${PF} has VFs in pods: VF 1 (${vfs[1]}) is attached to container pod-b`);
    expect(r.stderr).toContain('rebinding the PF destroys them');
    expect(read(node.root, 'sys/bus/pci/drivers/ice/unbind')).toBe('');
    expect(tool(['bind', PF, '--driver', 'vfio-pci', '--dry-run'], node.root).code).toBe(1);
    const f = tool(['unbind', PF, '--force', ...FAST], node.root);
    expect(f.stdout).toContain('--force: going ahead although');
    expect(read(node.root, 'sys/bus/pci/drivers/ice/unbind')).toBe(PF);
  });

  it('bind A B where B is refused changes neither A nor B (exit 1)', () => {
    const n = awsNode(dir.path);
    n.driver('uio_pci_generic');
    allocate(n.root, ENA_VFIO, 'pod-c');
    const r = tool(['bind', ENA_KERNEL, ENA_VFIO, '--driver', 'uio_pci_generic', ...FAST], n.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${ENA_VFIO}: refused`);
    expect(r.stderr).toContain(`${ENA_KERNEL}: not changed: another device was refused`);
    expect(r.stderr).toContain('no device was changed');
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('(null)\n');
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
    expect(read(n.root, 'sys/bus/pci/drivers_probe')).toBe('');
    expect(read(n.root, `var/lib/cni/dpdk-cni/known/${ENA_KERNEL}.json`)).toBeUndefined();
  });

  it.runIf(isRoot)('a bridge port is refused; so is the lower device of a macvlan carrying an address', () => {
    const ifname = net.veth(`dt${net.id}`);
    const n = awsNode(dir.path, { netdev: ifname });
    const br = `dbr${net.id}`;
    ip('link', 'add', br, 'type', 'bridge');
    extra.push(br);
    ip('link', 'set', ifname, 'master', br);
    const r = tool(['unbind', ENA_KERNEL], n.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${ifname} is a port of bridge ${br}`);
    expect(read(n.root, 'sys/bus/pci/drivers/ena/unbind')).toBe('');
    ip('link', 'set', ifname, 'nomaster');
    const mv = `dmv${net.id}`;
    ip('link', 'add', 'link', ifname, 'name', mv, 'type', 'macvlan');
    extra.push(mv);
    ip('addr', 'add', '192.0.2.30/24', 'dev', mv);
    const m = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci'], n.root);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain(`macvlan ${mv} on ${ifname} has addresses 192.0.2.30/24`);
    expect(read(n.root, `${dev(ENA_KERNEL)}/driver_override`)).toBe('(null)\n');
  });
});
