import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { isRoot, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { pluginDir } from '../callers/driver.js';
import { Podman } from '../callers/podman.js';

/**
 * A real container engine: podman 4.3 with its CNI backend runs a busybox container on a
 * dpdk-cni network in netdevice mode. podman calls VERSION (empty container ID), ADD from
 * `podman run`, and DEL later from its separate cleanup process, whose environment is scrubbed.
 */
describe.runIf(isRoot)('podman caller (root)', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let net: NetFixture;
  let pm: Podman;
  let ipamDir: string;
  const PCI = '0000:5e:00.0';
  const MAC = '02:00:00:5e:00:01';
  let vf: string;

  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  const attachments = () => ls(join(node.root, 'var/lib/cni/dpdk-cni/attachments')).filter((f) => f.endsWith('.json'));
  const leases = (n: string) => ls(join(ipamDir, n)).filter((f) => /^\d+\./.test(f));

  /** podman's cleanup process runs after `podman run` returns: wait for the device to come home. */
  async function deviceBack(): Promise<any> {
    for (let i = 0; i < 100; i++) {
      const l = net.link(vf);
      if (l && attachments().length === 0) return l;
      await new Promise((r) => setTimeout(r, 100));
    }
    return net.link(vf);
  }

  beforeEach(() => {
    dir = tempDir('dpdk-cni-podman-');
    node = new SimNode(join(dir.path, 'node'));
    net = new NetFixture();
    ipamDir = join(dir.path, 'ipam');
    vf = net.veth(`dp${net.id}`, { mac: MAC, mtu: 1500 });
    node.pci(PCI, { driver: 'iavf', device: '1889' });
    node.netdev(PCI, vf, { mac: MAC, mtu: 1500 });
    pm = new Podman(join(dir.path, 'podman'), pluginDir(join(dir.path, 'plugins'), { root: node.root, plugins: ['host-local'] }));
  });
  afterEach(() => {
    pm.cleanup();
    net.cleanup();
    dir.cleanup();
  });

  it('the container sees the device with its address, MAC and MTU; after it exits, the cleanup DEL puts the device back', async () => {
    pm.network('dpdknet', {
      cniVersion: '1.0.0',
      plugins: [{
        type: 'dpdk-cni', deviceID: PCI, mtu: 1400, mac: '02:aa:bb:cc:00:01',
        ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: '10.77.0.0/24', gateway: '10.77.0.1' }]] },
      }],
    });
    const r = pm.run('dpdknet', ['/bin/ip', 'addr', 'show', 'dev', 'eth0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/eth0.*mtu 1400/);
    expect(r.stdout).toContain('link/ether 02:aa:bb:cc:00:01');
    expect(r.stdout).toContain('inet 10.77.0.2/24');

    const back = await deviceBack();
    expect(back).toMatchObject({ ifname: vf, address: MAC, mtu: 1500 });
    expect(attachments()).toEqual([]);
    expect(leases('dpdknet')).toEqual([]);
  });

  it('a detached container keeps the device until `podman rm -f`; the device then returns and a new container can take it', async () => {
    pm.network('dpdknet', {
      cniVersion: '1.0.0',
      plugins: [{ type: 'dpdk-cni', deviceID: PCI, ipam: { type: 'host-local', dataDir: ipamDir, subnet: '10.78.0.0/24' } }],
    });
    const run = pm.run('dpdknet', ['/bin/sleep', '600'], ['-d', '--name', 'holder']);
    expect(run.code, run.stderr).toBe(0);
    expect(net.link(vf)).toBeUndefined();
    expect(attachments()).toHaveLength(1);
    // the device is taken: a second container on the same device fails with dpdk-cni's message
    const second = pm.run('dpdknet', ['/bin/true']);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`PCI device ${PCI} is already allocated to container`);

    const rm = pm.podman(['rm', '--force', '--time', '0', 'holder']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(await deviceBack()).toMatchObject({ ifname: vf, address: MAC, mtu: 1500 });
    expect(leases('dpdknet')).toEqual([]);

    const third = pm.run('dpdknet', ['/bin/ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/eth0 +inet 10\.78\.0\.\d+\/24/); // host-local hands out the next free address
    expect(await deviceBack()).toMatchObject({ ifname: vf });
    expect(sh('ip', ['netns', 'list']).stdout).not.toContain('netns-');
  });
});
