import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimNode } from '../../src/sim/simnode.js';
import { CNI_PLUGINS, cni, tempDir, type CniCall } from '../helpers/cni.js';

/**
 * The plugin driven exactly as Multus drives a delegate (ecosystem.md §5.1–5.5, callers.md):
 * deviceID and pciBusID injected at top level, runtimeConfig with deviceID/mac/CNIDeviceInfoFile
 * (the NAD declares those capabilities), the device plugin's device-info file copied to the CNI
 * path before ADD, repeated CNI_ARGS keys, a duplicated CNI_PATH, DEL with prevResult after a
 * failed ADD, DEL with the netns gone. The network-status entry is then computed the way the
 * network-attachment-definition-client does it.
 */
const LIVE = `/proc/${process.pid}/ns/net`;
const CID = 'a3b1f0c9d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0';
const ARGS = `IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=testpmd-7c9f;K8S_POD_INFRA_CONTAINER_ID=${CID};K8S_POD_UID=9f1e6c2a-0b7d-4c5e-8f3a-1d2c3b4a5e6f;IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=testpmd-7c9f`;

/** nad-client CreateNetworkStatus for a single-interface result. */
function networkStatus(result: any, name: string, devinfo: unknown) {
  const s: Record<string, unknown> = { name };
  for (const i of result.interfaces ?? []) {
    if (i.sandbox) {
      s.interface = i.name;
      s.mac = i.mac;
      s.mtu = i.mtu;
    }
  }
  if (result.ips?.length) s.ips = result.ips.map((ip: any) => ip.address.split('/')[0]);
  s.dns = result.dns ?? {};
  if (devinfo) s['device-info'] = devinfo;
  return s;
}

describe('Multus-shaped invocation', () => {
  let dir: { path: string; cleanup: () => void };
  let node: SimNode;
  let vfs: string[];
  const dpFile = (pci: string) => `/var/run/k8s.cni.cncf.io/devinfo/dp/intel.com-sriov_dpdk-${pci}-device.json`;
  const cniFile = (ifn = 'net1', cid = CID) => `/var/run/k8s.cni.cncf.io/devinfo/cni/default-sriov-dpdk-${cid}_${ifn}`;
  const call = (c: Omit<CniCall, 'root'>) => cni({ netns: LIVE, containerId: CID, args: ARGS, path: `${CNI_PLUGINS}:${CNI_PLUGINS}`, ...c, root: node.root });
  /** What Multus does before calling the delegate: copy the device plugin's file to the CNI path. */
  function multusCopy(pci: string, ifn = 'net1') {
    const to = join(node.root, cniFile(ifn));
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, readFileSync(join(node.root, dpFile(pci))));
    chmodSync(to, 0o444);
  }
  function delegateConf(pci: string, extra: Record<string, unknown> = {}, ifn = 'net1', cid = CID) {
    return {
      capabilities: { CNIDeviceInfoFile: true, deviceID: true, mac: true },
      cniVersion: '1.0.0', name: 'sriov-dpdk', type: 'dpdk-cni',
      deviceID: pci, pciBusID: pci,
      runtimeConfig: { CNIDeviceInfoFile: cniFile(ifn, cid), deviceID: pci },
      ...extra,
    };
  }

  beforeEach(() => {
    dir = tempDir();
    node = new SimNode(dir.path);
    vfs = node.sriovPf('0000:3b:00.0', { netdev: 'ens1f0', numVfs: 4, mtu: 9000 });
    for (const vf of vfs) {
      const f = join(node.root, dpFile(vf));
      mkdirSync(dirname(f), { recursive: true });
      // exactly what the SR-IOV device plugin writes (nad-client SaveDeviceInfoForDP): never pf-pci-address
      writeFileSync(f, `{"type":"pci","version":"1.1.0","pci":{"pci-address":"${vf}","rdma-device":"mlx5_3"}}`, { mode: 0o444 });
    }
  });
  afterEach(() => dir.cleanup());

  it('ADD enriches the copied device-info file and network-status gets what a DPDK app needs', () => {
    multusCopy(vfs[2]!);
    const add = call({ command: 'ADD', conf: delegateConf(vfs[2]!) });
    expect(add.code, add.stdout).toBe(0);
    const file = join(node.root, cniFile());
    const text = readFileSync(file, 'utf8');
    // byte format of the nad-client's Go structs: compact, field order pci-address, vhost-net, rdma-device, pf-pci-address
    expect(text).toBe(`{"type":"pci","version":"1.1.0","pci":{"pci-address":"${vfs[2]}","rdma-device":"mlx5_3","pf-pci-address":"0000:3b:00.0"}}`);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    const status = networkStatus(add.json, 'default/sriov-dpdk', JSON.parse(text));
    expect(status).toEqual({
      name: 'default/sriov-dpdk', interface: 'net1', mac: undefined, mtu: 9000, dns: {},
      'device-info': { type: 'pci', version: '1.1.0', pci: { 'pci-address': vfs[2], 'rdma-device': 'mlx5_3', 'pf-pci-address': '0000:3b:00.0' } },
    });
    // the log lines carry the pod identity from the repeated CNI_ARGS keys (last wins)
    expect(add.stderr).toMatch(/"podNamespace":"default","podName":"testpmd-7c9f"/);
    // Multus removes the CNI file after DEL; our DEL removes it too and a missing file is fine
    expect(call({ command: 'DEL', conf: { ...delegateConf(vfs[2]!), prevResult: add.json } }).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('the runtimeConfig MAC (the pod annotation) reaches the result and network-status', () => {
    // PF-less device: a mac request would need a PF, so this uses a VF whose settings fail on the
    // simulated PF; the MAC rule itself (priority, normalisation) is shown on a PF-less netdev in
    // netdev.test.ts. Here: a mac equal to the device's last known MAC is accepted and reported.
    node.pci('0000:00:06.0', { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
    mkdirSync(join(node.root, 'var/lib/cni/dpdk-cni/known'), { recursive: true });
    writeFileSync(join(node.root, 'var/lib/cni/dpdk-cni/known/0000:00:06.0.json'), '{"pci":"0000:00:06.0","mac":"0a:1b:2c:3d:4e:5f","mtu":9001}');
    const c = delegateConf('0000:00:06.0', { runtimeConfig: { CNIDeviceInfoFile: cniFile(), deviceID: '0000:00:06.0', mac: '0A:1B:2C:3D:4E:5F' } });
    const add = call({ command: 'ADD', conf: c });
    expect(add.code, add.stdout).toBe(0);
    const status = networkStatus(add.json, 'default/ena', JSON.parse(readFileSync(join(node.root, cniFile()), 'utf8')));
    expect(status).toMatchObject({ interface: 'net1', mac: '0a:1b:2c:3d:4e:5f', mtu: 9001, 'device-info': { pci: { 'pci-address': '0000:00:06.0' } } });
    expect((status['device-info'] as any).pci['pf-pci-address']).toBeUndefined();
  });

  it('a failed ADD puts back the device plugin file Multus copied, and the DEL Multus sends next succeeds without touching the owner', () => {
    // another pod owns vfs[1]
    expect(call({ command: 'ADD', conf: delegateConf(vfs[1]!, {}, 'net9', 'owner'), containerId: 'owner', ifname: 'net9' }).code).toBe(0);
    multusCopy(vfs[1]!);
    const before = readFileSync(join(node.root, cniFile()), 'utf8');
    const add = call({ command: 'ADD', conf: delegateConf(vfs[1]!) });
    expect(add.json.code).toBe(102);
    expect(readFileSync(join(node.root, cniFile()), 'utf8')).toBe(before);
    const del = call({ command: 'DEL', conf: { ...delegateConf(vfs[1]!), prevResult: { cniVersion: '1.0.0' } } });
    expect([del.code, del.stdout]).toEqual([0, '']);
    const marker = JSON.parse(readFileSync(join(node.root, `var/lib/cni/dpdk-cni/devices/${vfs[1]}.json`), 'utf8'));
    expect(marker.key.containerID).toBe('owner');
    expect(call({ command: 'CHECK', conf: delegateConf(vfs[1]!, {}, 'net9', 'owner'), containerId: 'owner', ifname: 'net9' }).code).toBe(0);
  });

  it('DEL with the netns gone and with an empty CNI_NETNS succeeds', async () => {
    // the pod's netns: a process's own, gone when it exits
    const pod = spawn('sleep', ['60']);
    const add = call({ command: 'ADD', conf: delegateConf(vfs[0]!), netns: `/proc/${pod.pid}/ns/net` });
    expect(add.code).toBe(0);
    await new Promise((r) => {
      pod.once('exit', r);
      pod.kill('SIGKILL');
    });
    expect(call({ command: 'DEL', conf: { ...delegateConf(vfs[0]!), prevResult: add.json }, netns: '' }).code).toBe(0);
    expect(call({ command: 'ADD', conf: delegateConf(vfs[3]!, {}, 'net1', 'p2'), containerId: 'p2' }).code).toBe(0);
    expect(call({ command: 'DEL', conf: delegateConf(vfs[3]!, {}, 'net1', 'p2'), containerId: 'p2', netns: '/run/netns/cni-0b3f-gone' }).code).toBe(0);
  });

  it('without CNIDeviceInfoFile the plugin says at info level why Multus will publish no device-info', () => {
    const c = delegateConf(vfs[0]!);
    delete (c.runtimeConfig as any).CNIDeviceInfoFile;
    const add = call({ command: 'ADD', conf: c });
    expect(add.code).toBe(0);
    expect(add.stderr).toMatch(/"level":30.*Multus will not publish device-info/);
  });

  it.each([
    '/etc/cron.d/evil', '/var/run/k8s.cni.cncf.io/devinfo/../../../etc/x', 'relative/path', '/var/run/k8s.cni.cncf.io/devinfo',
  ])('a CNIDeviceInfoFile outside the devinfo directory (%s) is refused with code 7', (p) => {
    const r = call({ command: 'ADD', conf: delegateConf(vfs[0]!, { runtimeConfig: { CNIDeviceInfoFile: p } }) });
    expect(r.json.code).toBe(7);
    expect(r.json.msg).toMatch(/CNIDeviceInfoFile/);
  });
});
