import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { classify } from '../../src/device/classify.js';
import { findNetdev, vfIndexOf } from '../../src/device/scan.js';
import { makeHost, type Host } from '../../src/sys/host.js';
import { tempDir } from '../helpers/cni.js';
import { SimNode, vfAddress } from '../../src/sim/simnode.js';
import { expectCniError } from '../helpers/errors.js';

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let host: Host;

beforeEach(() => {
  dir = tempDir('dpdk-cni-classify-');
  node = new SimNode(dir.path);
  host = makeHost({ DPDK_CNI_ROOT: node.root });
});
afterEach(() => dir.cleanup());

const refused = expectCniError;

describe('PF-less devices and kernel drivers', () => {
  it('a PF-less NIC on vfio-pci is DPDK mode without PF, with vendor/device/NUMA/IOMMU group from sysfs', () => {
    node.pci('0000:00:06.0', { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20', numa: 1, iommuGroup: 7 });
    expect(classify(host, '0000:00:06.0')).toEqual({
      pci: '0000:00:06.0', driver: 'vfio-pci', vendor: '1d0f', device: 'ec20', numaNode: 1, iommuGroup: '7', mode: 'dpdk',
    });
  });

  it.each(['igb_uio', 'uio_pci_generic'])('%s is a DPDK driver too', (drv) => {
    node.pci('0000:00:06.0', { driver: drv });
    expect(classify(host, '0000:00:06.0').mode).toBe('dpdk');
  });

  it('a NUMA node of -1 (no affinity) is reported as -1', () => {
    node.pci('0000:00:06.0', { driver: 'vfio-pci', numa: -1 });
    expect(classify(host, '0000:00:06.0').numaNode).toBe(-1);
  });

  it('a kernel driver with a netdev is netdev mode naming it', () => {
    node.pci('0000:00:05.0', { driver: 'ena' });
    node.netdev('0000:00:05.0', 'ens5');
    expect(classify(host, '0000:00:05.0')).toMatchObject({ mode: 'netdev', driver: 'ena', netdev: 'ens5' });
  });

  it('a virtio-net device has its netdev under virtioN/net', () => {
    node.pci('0000:00:13.0', { driver: 'virtio-pci', vendor: '1af4', device: '1041' });
    node.netdev('0000:00:13.0', 'eth3', { virtio: 5 });
    expect(findNetdev(host, '0000:00:13.0')).toBe('eth3');
    expect(classify(host, '0000:00:13.0')).toMatchObject({ mode: 'netdev', driver: 'virtio-pci', netdev: 'eth3' });
  });

  it('a switchdev PF on its kernel driver is netdev mode naming its uplink, not a representor that sorts first', () => {
    node.pci('0000:3b:00.0', { driver: 'mlx5_core' });
    node.netdev('0000:3b:00.0', 'ens1f0');
    const net = join(node.realDir('0000:3b:00.0'), 'net');
    writeFileSync(join(net, 'ens1f0', 'phys_port_name'), 'p0\n');
    mkdirSync(join(net, 'ens0pf0vf0'));
    writeFileSync(join(net, 'ens0pf0vf0', 'phys_port_name'), 'pf0vf0\n');
    expect(findNetdev(host, '0000:3b:00.0')).toBe('ens1f0');
    expect(classify(host, '0000:3b:00.0')).toMatchObject({ mode: 'netdev', netdev: 'ens1f0' });
  });

  it('a device that does not exist → 100 naming the address and the sysfs path', () => {
    const e = refused(() => classify(host, '0000:00:07.0'));
    expect(e.code).toBe(100);
    expect(e.message).toBe(`PCI device 0000:00:07.0 not found (no ${node.root}/sys/bus/pci/devices/0000:00:07.0): check the device plugin's allocation and the deviceID`);
  });

  it('no driver bound → 101 with the bind command that fixes it', () => {
    node.pci('0000:00:08.0', {});
    const e = refused(() => classify(host, '0000:00:08.0'));
    expect(e.code).toBe(101);
    expect(e.message).toBe('PCI device 0000:00:08.0 has no driver bound: bind it to vfio-pci (DPDK) or to its kernel driver, e.g. "dpdk-cni bind 0000:00:08.0 --driver vfio-pci"');
  });

  it('an unknown driver without netdev or vDPA → 101 naming the driver and the DPDK drivers', () => {
    node.pci('0000:00:09.0', { driver: 'nvme' });
    const e = refused(() => classify(host, '0000:00:09.0'));
    expect(e.code).toBe(101);
    expect(e.message).toBe('PCI device 0000:00:09.0 is bound to nvme, which is neither a DPDK driver (vfio-pci, igb_uio, uio_pci_generic) nor a kernel driver with a netdev, and it has no vDPA device');
  });

  it('a VF without driver still reports 101 (after finding its PF)', () => {
    const vf = node.sriovPf('0000:3b:00.0', { numVfs: 1, vfOpts: () => ({ driver: '' }) })[0]!;
    node.unbind(vf);
    expect(refused(() => classify(host, vf)).code).toBe(101);
  });
});

describe('SR-IOV VFs: PF and VF index', () => {
  it('finds the PF, its netdev and the VF index from sriov_offset/stride', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { netdev: 'ens1f0', numVfs: 4 });
    expect(vfs).toEqual(['0000:3b:02.0', '0000:3b:02.1', '0000:3b:02.2', '0000:3b:02.3']);
    vfs.forEach((vf, i) => {
      expect(classify(host, vf)).toMatchObject({ mode: 'dpdk', driver: 'vfio-pci', pf: { pci: '0000:3b:00.0', netdev: 'ens1f0', vfIndex: i } });
    });
  });

  it('honours a stride of 2 and a VF range that crosses a bus boundary', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 130, offset: 0x80, stride: 2 });
    expect(vfs[0]).toBe('0000:3b:10.0');
    expect(vfs[64]).toBe('0000:3c:00.0');
    expect(vfIndexOf(host, '0000:3b:00.0', vfs[0]!)).toBe(0);
    expect(vfIndexOf(host, '0000:3b:00.0', vfs[64]!)).toBe(64);
    expect(vfIndexOf(host, '0000:3b:00.0', vfs[129]!)).toBe(129);
  });

  it('falls back to scanning virtfnN when sriov_offset/stride are wrong', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 4 });
    writeFileSync(join(node.realDir('0000:3b:00.0'), 'sriov_offset'), '3\n');
    expect(vfIndexOf(host, '0000:3b:00.0', vfs[2]!)).toBe(2);
    expect(classify(host, vfs[3]!).pf?.vfIndex).toBe(3);
  });

  it('falls back to scanning virtfnN when sriov_offset/stride are missing', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 3 });
    rmSync(join(node.realDir('0000:3b:00.0'), 'sriov_offset'));
    rmSync(join(node.realDir('0000:3b:00.0'), 'sriov_stride'));
    expect(vfIndexOf(host, '0000:3b:00.0', vfs[1]!)).toBe(1);
  });

  it('a VF not listed in its PF\'s virtfnN links → 100', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 2 });
    rmSync(join(node.realDir('0000:3b:00.0'), 'virtfn1'));
    expect(vfIndexOf(host, '0000:3b:00.0', vfs[1]!)).toBeUndefined();
    const e = refused(() => classify(host, vfs[1]!));
    expect([e.code, e.message]).toEqual([100, `PCI device ${vfs[1]} is a VF of 0000:3b:00.0 but is not listed in its virtfnN links`]);
  });

  it('a PF without netdev (e.g. itself on vfio-pci) leaves pf.netdev unset', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 1 });
    rmSync(join(node.realDir('0000:3b:00.0'), 'net'), { recursive: true });
    expect(classify(host, vfs[0]!).pf).toEqual({ pci: '0000:3b:00.0', vfIndex: 0 });
  });

  it('a kernel VF (iavf) with a netdev is netdev mode under its PF', () => {
    const vfs = node.sriovPf('0000:3b:00.0', { numVfs: 2, vfOpts: (i: number) => ({ driver: 'iavf', netdev: `ens1f0v${i}` }) });
    expect(classify(host, vfs[1]!)).toMatchObject({ mode: 'netdev', netdev: 'ens1f0v1', pf: { vfIndex: 1, netdev: 'ens1f0' } });
  });

  it('vfAddress in the simulator agrees with vfIndexOf', () => {
    node.sriovPf('0000:5e:00.1', { numVfs: 8, offset: 7, stride: 1 });
    for (let i = 0; i < 8; i++) expect(vfIndexOf(host, '0000:5e:00.1', vfAddress('0000:5e:00.1', i, 7, 1))).toBe(i);
  });
});

describe('vDPA', () => {
  it('vhost_vdpa → vhost-vdpa mode with the /dev/vhost-vdpa-N path', () => {
    node.pci('0000:65:00.2', { driver: 'mlx5_core' });
    node.vdpa('0000:65:00.2', 'vdpa0', 'vhost_vdpa', { index: 3 });
    expect(classify(host, '0000:65:00.2')).toMatchObject({ mode: 'vhost-vdpa', vdpa: { name: 'vdpa0', driver: 'vhost', path: '/dev/vhost-vdpa-3' } });
  });

  it('a vDPA device wins over a DPDK-looking or netdev-bearing function', () => {
    node.pci('0000:00:07.0', { driver: 'virtio-pci' });
    node.netdev('0000:00:07.0', 'eth9');
    node.vdpa('0000:00:07.0', 'vdpa1', 'vhost_vdpa');
    expect(classify(host, '0000:00:07.0').mode).toBe('vhost-vdpa');
  });

  it('virtio_vdpa → virtio-vdpa mode with the virtio netdev (not the VF\'s own)', () => {
    node.pci('0000:65:00.3', { driver: 'mlx5_core' });
    node.vdpa('0000:65:00.3', 'vdpa1', 'virtio_vdpa', { index: 2, netdev: 'eth7' });
    const d = classify(host, '0000:65:00.3');
    expect(d).toMatchObject({ mode: 'virtio-vdpa', netdev: 'eth7', vdpa: { name: 'vdpa1', driver: 'virtio' } });
    expect(d.vdpa?.path).toBeUndefined();
  });

  it('virtio_vdpa without a virtio netdev → 100', () => {
    node.pci('0000:65:00.3', { driver: 'mlx5_core' });
    node.vdpa('0000:65:00.3', 'vdpa1', 'virtio_vdpa');
    const e = refused(() => classify(host, '0000:65:00.3'));
    expect(e.code).toBe(100);
    expect(e.message).toContain('vDPA device vdpa1 on 0000:65:00.3 is bound to virtio_vdpa but has no virtio netdev');
  });

  it('several vDPA devices: 7 asking for vdpaDevice; vdpaDevice picks one; a wrong one → 100 listing those present', () => {
    node.pci('0000:65:00.2', { driver: 'mlx5_core' });
    node.vdpa('0000:65:00.2', 'vdpa0', 'vhost_vdpa', { index: 0 });
    node.vdpa('0000:65:00.2', 'vdpa1', 'vhost_vdpa', { index: 1 });
    const many = refused(() => classify(host, '0000:65:00.2'));
    expect([many.code, many.message]).toEqual([7, 'PCI device 0000:65:00.2 has several vDPA devices (vdpa0, vdpa1): set "vdpaDevice" to choose one']);
    expect(classify(host, '0000:65:00.2', 'vdpa1').vdpa).toEqual({ name: 'vdpa1', driver: 'vhost', path: '/dev/vhost-vdpa-1' });
    const wrong = refused(() => classify(host, '0000:65:00.2', 'vdpa9'));
    expect([wrong.code, wrong.message]).toEqual([100, 'vdpaDevice "vdpa9" is not on PCI device 0000:65:00.2; it has vdpa0, vdpa1']);
  });

  it('vdpaDevice on a function without vDPA devices → 100', () => {
    node.pci('0000:00:06.0', { driver: 'vfio-pci' });
    const e = refused(() => classify(host, '0000:00:06.0', 'vdpa0'));
    expect([e.code, e.message]).toEqual([100, 'vdpaDevice "vdpa0" is not on PCI device 0000:00:06.0 (no vDPA devices there)']);
  });

  it('an unbound vDPA device → 101 telling which drivers to use', () => {
    node.pci('0000:65:00.2', { driver: 'mlx5_core' });
    mkdirSync(join(node.realDir('0000:65:00.2'), 'vdpa0'));
    const e = refused(() => classify(host, '0000:65:00.2'));
    expect([e.code, e.message]).toEqual([101, 'vDPA device vdpa0 on 0000:65:00.2 is not bound to a driver: bind it to vhost_vdpa or virtio_vdpa']);
  });

  it('vhost_vdpa without the vhost-vdpa-N child → 100', () => {
    node.pci('0000:65:00.2', { driver: 'mlx5_core' });
    node.vdpa('0000:65:00.2', 'vdpa0', 'vhost_vdpa');
    rmSync(join(node.realDir('0000:65:00.2'), 'vdpa0', 'vhost-vdpa-0'), { recursive: true });
    expect(refused(() => classify(host, '0000:65:00.2')).code).toBe(100);
  });

  it('a vDPA device on a VF keeps the PF and VF index', () => {
    const vfs = node.sriovPf('0000:65:00.0', { netdev: 'enp101s0f0np0', numVfs: 2, vfDriver: 'mlx5_core' });
    node.vdpa(vfs[1]!, 'vdpa0', 'vhost_vdpa');
    expect(classify(host, vfs[1]!)).toMatchObject({ mode: 'vhost-vdpa', pf: { pci: '0000:65:00.0', netdev: 'enp101s0f0np0', vfIndex: 1 } });
  });
});
