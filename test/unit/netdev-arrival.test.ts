import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { moveOut } from '../../src/net/netdev.js';
import { makeHost } from '../../src/sys/host.js';
import type { Exec } from '../../src/sys/exec.js';
import type { NetdevState } from '../../src/state/store.js';

// DEL: what arrives in the host from the pod is checked against the identity ADD saved before it is
// renamed back. A device with a parent (PCI, virtio) is checked from sysfs, without an `ip` process;
// a link without a device there is sent back to the pod.

const PCI = '0000:5e:00.1';
let root: string | undefined;
afterEach(() => root && rmSync(root, { recursive: true, force: true }));

/** A host root whose /sys/class/net/<name> has the given parent device (or none: a virtual link). */
function sysfs(name: string, parent?: { bus: string; dev: string }) {
  root = mkdtempSync(join(tmpdir(), 'dcni-arrival-'));
  const nd = join(root, 'sys/class/net', name);
  mkdirSync(nd, { recursive: true });
  if (parent) {
    const dev = join(root, 'sys/devices', parent.dev);
    mkdirSync(join(root, 'sys/bus', parent.bus), { recursive: true });
    mkdirSync(dev, { recursive: true });
    symlinkSync(join(root, 'sys/bus', parent.bus), join(dev, 'subsystem'));
    symlinkSync(dev, join(nd, 'device'));
  }
  const calls: string[] = [];
  const exec: Exec = (file, args, opts) => {
    calls.push(`${[file, ...args].join(' ')}${opts?.input ? ` <<${opts.input.trim().replace(/\n/g, '; ')}` : ''}`);
    return { code: 0, stdout: '', stderr: '' };
  };
  const host = { ...makeHost({ DPDK_CNI_ROOT: root }), exec, tool: (n: string) => `/usr/sbin/${n}` };
  return { host, calls };
}

const st = (id: NetdevState['id']): NetdevState => ({
  hostName: 'ens1f0v1', tmpName: 'dcni0123456789', podName: 'net1', origMac: '02:00:00:00:00:01', mac: '02:00:00:00:00:01', origMtu: 1500, mtu: 1500, wasUp: true, id,
});

describe('moveOut: the arrival check', () => {
  it('a PCI device that arrives with its own PCI parent: no `ip link show`, put back in one batch', () => {
    const { host, calls } = sysfs('dcni0123456789', { bus: 'pci', dev: PCI });
    moveOut(host, st({ parentbus: 'pci', parentdev: PCI, ifindex: 7 }), { where: 'pod', name: 'net1' }, '/run/netns/pod', PCI);
    expect(calls.some((c) => c.includes('link show'))).toBe(false);
    expect(calls).toHaveLength(2); // the pod side, the host side
    expect(calls[1]).toContain('link set dev dcni0123456789 name ens1f0v1');
  });

  it('a virtual link the pod swapped in under the temporary name is sent back and the DEL fails', () => {
    const { host, calls } = sysfs('dcni0123456789');
    expect(() => moveOut(host, st({ parentbus: 'virtio', parentdev: 'virtio3', ifindex: 7 }), { where: 'pod', name: 'net1' }, '/run/netns/pod', PCI)).toThrow(/is not the device ADD moved in.*sent back to the pod/);
    expect(calls.at(-1)).toMatch(/ip link set dev dcni0123456789 netns \/run\/netns\/pod$/);
    expect(calls.some((c) => c.includes('name ens1f0v1'))).toBe(false);
  });

  it('another virtio device is not ours either', () => {
    const { host, calls } = sysfs('dcni0123456789', { bus: 'virtio', dev: 'virtio9' });
    expect(() => moveOut(host, st({ parentbus: 'virtio', parentdev: 'virtio3', ifindex: 7 }), { where: 'pod', name: 'net1' }, '/run/netns/pod', PCI)).toThrow(/on virtio9.*sent back/);
    expect(calls.some((c) => c.includes('name ens1f0v1'))).toBe(false);
  });
});
