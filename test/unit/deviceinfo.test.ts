import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { classify } from '../../src/device/classify.js';
import { buildDeviceInfo, deviceInfoPath, deviceInfoTarget, findRepresentor, safeValue, serialize, undoDeviceInfo, writeDeviceInfo, type DeviceInfo } from '../../src/deviceinfo/spec.js';
import { nullLogger } from '../../src/log/logger.js';
import { makeHost, type Host } from '../../src/sys/host.js';
import { REPO, tempDir } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';

const golden = (name: string) => readFileSync(`${REPO}/test/fixtures/deviceinfo/${name}`, 'utf8');
const CNI_FILE = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-dpdk-net-c0ffee_net1';
const KEY = { net: 'dpdk-net', containerID: 'c0ffee', ifname: 'net1' };

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let host: Host;

beforeEach(() => {
  dir = tempDir('dpdk-cni-devinfo-');
  node = new SimNode(dir.path);
  host = makeHost({ DPDK_CNI_ROOT: node.root });
  node.pci('0000:00:06.0', { driver: 'vfio-pci' });
  node.sriovPf('0000:3b:00.0', { netdev: 'ens1f0', numVfs: 2 });
  node.sriovPf('0000:65:00.0', { netdev: 'enp101s0f0np0', numVfs: 1, offset: 2, vfDriver: 'mlx5_core' }); // VF 0000:65:00.2
  node.vdpa('0000:65:00.2', 'vdpa0', 'vhost_vdpa', { index: 0 });
  node.pci('0000:65:00.3', { driver: 'mlx5_core' }); // a vDPA parent without PF (e.g. a passed-through SF)
  node.vdpa('0000:65:00.3', 'vdpa1', 'virtio_vdpa', { index: 1, netdev: 'eth9' });
});
afterEach(() => dir.cleanup());

/** Write `existing` (a DP file Multus copied) at the CNI path, run writeDeviceInfo, return the bytes. */
function write(pci: string, existing?: string): { bytes: string; path: string; prev?: string } {
  const path = deviceInfoPath(host, CNI_FILE, KEY);
  if (existing !== undefined) writeFileSync(path, existing, { mode: 0o444 });
  const st = deviceInfoTarget(host, path);
  writeDeviceInfo(host, st, classify(host, pci), nullLogger);
  expect(st.path).toBe(path);
  const out: { bytes: string; path: string; prev?: string } = { bytes: readFileSync(path, 'utf8'), path };
  if (st.previous !== undefined) out.prev = st.previous;
  return out;
}

describe('device-info files, byte for byte as the nad-client Go structs marshal them', () => {
  it.each([
    ['0000:00:06.0', 'pci-pfless.json'],
    ['0000:3b:02.1', 'pci-vf.json'],
    ['0000:65:00.2', 'vdpa-vhost.json'],
    ['0000:65:00.3', 'vdpa-virtio.json'],
  ])('%s → %s (compact, struct field order, no trailing newline, mode 0444)', (pci, file) => {
    const w = write(pci);
    expect(w.bytes).toBe(golden(file));
    expect(statSync(w.path).mode & 0o777).toBe(0o444);
    expect(w.path).toBe(join(node.root, CNI_FILE));
  });

  it("keeps the device plugin's rdma-device and vhost-net, reorders into struct order, bumps the version to 1.1.0", () => {
    const input = golden('dp-rdma.input.json');
    const w = write('0000:3b:02.1', input);
    expect(w.bytes).toBe(golden('pci-vf-dp-rdma.json'));
    expect(w.prev).toBe(input);
  });

  it('replaces what the device plugin said about the vDPA device with what sysfs says, adding the PF', () => {
    expect(write('0000:65:00.2', golden('dp-vdpa.input.json')).bytes).toBe(golden('vdpa-vhost.json'));
  });

  it("drops values with spaces or '=' (app-netutil splits network-status on them)", () => {
    expect(write('0000:3b:02.1', golden('dp-unsafe.input.json')).bytes).toBe(golden('pci-vf.json'));
    expect(safeValue('mlx5 3')).toBeUndefined();
    expect(safeValue('a=b')).toBeUndefined();
    expect(safeValue('a\tb')).toBeUndefined();
    expect(safeValue('')).toBeUndefined();
    expect(safeValue('mlx5_3')).toBe('mlx5_3');
  });

  it('an existing file that is not JSON is replaced (and kept as "previous" for rollback)', () => {
    const w = write('0000:00:06.0', 'garbage');
    expect(w.bytes).toBe(golden('pci-pfless.json'));
    expect(w.prev).toBe('garbage');
  });

  it.each([
    ['null', 'null'],
    ['a string', '"x"'],
    ['pci is a string', '{"type":"pci","pci":"0000:00:06.0"}'],
    ['non-string values', '{"type":"pci","pci":{"rdma-device":["mlx5_0"],"vhost-net":5}}'],
  ])('an existing file with odd content (%s) does not leak into the output', (_what, existing) => {
    expect(write('0000:00:06.0', existing).bytes).toBe(golden('pci-pfless.json'));
  });

  it('names the VF representor when the PF is in switchdev mode', () => {
    const pfNet = join(node.realDir('0000:3b:00.0'), 'net/ens1f0');
    writeFileSync(join(pfNet, 'phys_switch_id'), '4cd2b3a1e5f60708\n');
    for (const [name, ppn, sw] of [['eth4', 'pf0vf0', '4cd2b3a1e5f60708'], ['eth5', 'pf0vf1', '4cd2b3a1e5f60708'], ['eth6', 'pf0vf1', 'ffff000000000000']] as const) {
      const nd = node.netdev('0000:3b:00.0', name);
      writeFileSync(join(nd, 'phys_switch_id'), `${sw}\n`);
      writeFileSync(join(nd, 'phys_port_name'), `${ppn}\n`);
    }
    const dev = classify(host, '0000:3b:02.1');
    expect(findRepresentor(host, dev)).toBe('eth5');
    expect(write('0000:3b:02.1').bytes).toBe(golden('pci-vf-representor.json'));
  });

  it('no switch ID on the PF → no representor', () => {
    expect(findRepresentor(host, classify(host, '0000:3b:02.1'))).toBeUndefined();
    expect(findRepresentor(host, classify(host, '0000:00:06.0'))).toBeUndefined();
  });

  it('serialize of the other types keeps the Go field order too', () => {
    const d: DeviceInfo = { type: 'vhost-user', version: '1.1.0', 'vhost-user': { mode: 'server', path: '/var/run/vhost.sock' } };
    expect(serialize(d)).toBe('{"type":"vhost-user","version":"1.1.0","vhost-user":{"mode":"server","path":"/var/run/vhost.sock"}}');
  });

  it('buildDeviceInfo without an existing file', () => {
    expect(buildDeviceInfo(classify(host, '0000:3b:02.0'), undefined)).toEqual({ type: 'pci', version: '1.1.0', pci: { 'pci-address': '0000:3b:02.0', 'pf-pci-address': '0000:3b:00.0' } });
  });
});

describe('undo', () => {
  it('DEL removes the file; rollback puts back what Multus had copied', () => {
    const input = golden('dp-rdma.input.json');
    const path = deviceInfoPath(host, CNI_FILE, KEY);
    writeFileSync(path, input, { mode: 0o444 });
    const st = deviceInfoTarget(host, path);
    writeDeviceInfo(host, st, classify(host, '0000:3b:02.1'), nullLogger);
    undoDeviceInfo(host, st, KEY, true, nullLogger);
    expect(readFileSync(path, 'utf8')).toBe(input);
    const st2 = deviceInfoTarget(host, path);
    writeDeviceInfo(host, st2, classify(host, '0000:3b:02.1'), nullLogger);
    undoDeviceInfo(host, st2, KEY, false, nullLogger);
    expect(existsSync(path)).toBe(false);
    undoDeviceInfo(host, st2, KEY, false, nullLogger); // already gone: no error
  });
});

describe('CNIDeviceInfoFile is confined to the devinfo directories', () => {
  function refused(p: string): CniError {
    try {
      deviceInfoPath(host, p, KEY);
    } catch (e) {
      expect(e).toBeInstanceOf(CniError);
      return e as CniError;
    }
    throw new Error(`${p} was accepted`);
  }

  it.each([
    ['/etc/passwd', 'is not allowed: it must be a file under /var/run/k8s.cni.cncf.io/devinfo or /run/k8s.cni.cncf.io/devinfo'],
    ['/var/run/k8s.cni.cncf.io/devinfo', 'is not allowed: it must be a file under /var/run/k8s.cni.cncf.io/devinfo or /run/k8s.cni.cncf.io/devinfo'],
    ['/var/run/k8s.cni.cncf.io/devinfo-evil/x', 'is not allowed: it must be a file under /var/run/k8s.cni.cncf.io/devinfo or /run/k8s.cni.cncf.io/devinfo'],
    ['/var/run/k8s.cni.cncf.io/devinfo/cni/../../../../etc/x', 'must not contain "." or ".." segments'],
    ['var/run/k8s.cni.cncf.io/devinfo/cni/x', 'must be an absolute path'],
  ])('%s → 7: %s', (p, why) => {
    const e = refused(p);
    expect([e.code, e.message]).toEqual([7, `runtimeConfig.CNIDeviceInfoFile ${JSON.stringify(p)} ${why}`]);
  });

  it('a symlink inside the devinfo directory that leads outside → 7', () => {
    const outside = join(dir.path, 'outside');
    mkdirSync(outside);
    mkdirSync(join(node.root, 'var/run/k8s.cni.cncf.io/devinfo'), { recursive: true });
    symlinkSync(outside, join(node.root, 'var/run/k8s.cni.cncf.io/devinfo/cni'));
    const e = refused(CNI_FILE);
    expect(e.code).toBe(7);
    expect(e.message).toContain('its directory resolves outside /var/run/k8s.cni.cncf.io/devinfo (symlink?)');
  });

  it('/run/k8s.cni.cncf.io/devinfo is accepted as well, and the directory is created', () => {
    const p = deviceInfoPath(host, '/run/k8s.cni.cncf.io/devinfo/cni/default-dpdk-net-c0ffee_net1', KEY);
    expect(p).toBe(join(node.root, 'run/k8s.cni.cncf.io/devinfo/cni/default-dpdk-net-c0ffee_net1'));
    expect(statSync(join(node.root, 'run/k8s.cni.cncf.io/devinfo/cni')).isDirectory()).toBe(true);
  });
});
