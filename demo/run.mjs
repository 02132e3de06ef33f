#!/usr/bin/env node
// dpdk-cni demo on a simulated node: no NIC needed. A kernel-shaped sysfs tree under a temp
// DPDK_CNI_ROOT holds a PF-less NIC on vfio-pci (the AWS ENA shape), an SR-IOV PF with VFs, and a
// vhost-vdpa device. The real plugin executable (dist/dpdk-cni) is run exactly as a runtime runs
// it: CNI_* environment + netconf on stdin. As root, a kernel VF (a veth end standing in for the
// VF netdev) is also moved into a real network namespace with host-local IPAM, checked, released.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimNode } from '../test/sim/simnode.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = process.env.DPDK_CNI_BIN ?? join(repo, 'dist/dpdk-cni');
const root = mkdtempSync(join(tmpdir(), 'dpdk-cni-demo-'));
const isRoot = process.getuid?.() === 0;
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
let failures = 0;

// DPDK mode needs no netns of its own; the demo process's netns stands in for a live pod's.
const livePod = `/proc/${process.pid}/ns/net`;
function cni(command, conf, { netns = livePod, ifname = 'net1', cid = 'demo0001', root: r = root } = {}) {
  const env = {
    PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: cid, CNI_NETNS: netns, CNI_IFNAME: ifname,
    CNI_PATH: '/usr/lib/cni', DPDK_CNI_ROOT: r,
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=testpmd-0',
  };
  const res = spawnSync(bin, [], { input: JSON.stringify(conf), env, encoding: 'utf8' });
  const shown = res.stdout.trim() || '(no output: success)';
  console.log(`$ CNI_COMMAND=${command} dpdk-cni  → exit ${res.status}\n  ${shown}`);
  return res;
}
function expect(ok, what) {
  console.log(`  ${ok ? '✓' : '✗'} ${what}`);
  if (!ok) failures++;
}
function section(t) {
  console.log(`\n${bold(`== ${t}`)}`);
}

try {
  if (!existsSync(bin)) throw new Error(`${bin} not found: run "npm run build" first`);
  const node = new SimNode(root);
  node.pci('0000:00:06.0', { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  const vfs = node.sriovPf('0000:3b:00.0', { netdev: 'ens1f0', numVfs: 8, mtu: 9000, vfDriver: 'vfio-pci' });
  node.pci('0000:3b:10.0', { driver: 'mlx5_core', vendor: '15b3', device: '101e' });
  node.vdpa('0000:3b:10.0', 'vdpa0', 'vhost_vdpa', { index: 0 });
  console.log(`simulated node at ${root}`);

  section('VERSION (what podman asks first)');
  const v = cni('VERSION', { cniVersion: '1.1.0' });
  expect(JSON.parse(v.stdout).supportedVersions.length === 5, 'five CNI versions supported');

  section('DPDK: PF-less NIC on vfio-pci (AWS ENA shape), device-info for Multus');
  const devinfo = '/var/run/k8s.cni.cncf.io/devinfo/cni/demo-dpdk-net-demo0001_net1';
  const ena = { cniVersion: '1.1.0', name: 'dpdk-net', type: 'dpdk-cni', deviceID: '0000:00:06.0', runtimeConfig: { CNIDeviceInfoFile: devinfo } };
  const a1 = cni('ADD', ena);
  expect(a1.status === 0, 'ADD succeeded; result names the interface, sandbox and pciID');
  console.log(`  device-info file: ${readFileSync(join(root, devinfo), 'utf8')}`);
  expect(cni('CHECK', ena).status === 0, 'CHECK verified the device is still on vfio-pci');
  // each attachment names its own device-info file, as Multus does: <ns>-<nad>-<containerID>_<ifname>
  const own = (cid, ifname) => ({ ...ena, runtimeConfig: { CNIDeviceInfoFile: `/var/run/k8s.cni.cncf.io/devinfo/cni/demo-dpdk-net-${cid}_${ifname}` } });
  const ena2 = cni('ADD', own('other', 'net2'), { cid: 'other', ifname: 'net2' });
  expect(ena2.status === 1 && JSON.parse(ena2.stdout).code === 102, 'a second pod asking for the same device is refused (already allocated)');
  const bad = cni('ADD', { ...own('demo0002', 'net1'), vlan: 100 }, { cid: 'demo0002' });
  expect(JSON.parse(bad.stdout).code === 7 || JSON.parse(bad.stdout).code === 102 || JSON.parse(bad.stdout).code === 103, 'a VLAN on a PF-less device is refused with a clear reason');
  expect(cni('DEL', ena).status === 0, 'DEL released it and removed the device-info file');
  expect(!existsSync(join(root, devinfo)), 'device-info file gone');
  expect(cni('DEL', ena).status === 0, 'a repeated DEL succeeds');

  section('DPDK: SR-IOV VF on vfio-pci, MTU from the PF');
  const vf = { cniVersion: '1.0.0', name: 'sriov-dpdk', type: 'dpdk-cni', deviceID: vfs[3] };
  const a2 = cni('ADD', vf);
  const r2 = JSON.parse(a2.stdout);
  expect(r2.interfaces?.[0]?.mtu === 9000, `VF ${vfs[3]} reported with the PF's MTU 9000`);
  const m = cni('ADD', { ...vf, mtu: 9600 }, { cid: 'demo0003', ifname: 'net3' });
  expect(m.status === 1, 'an MTU above the PF MTU is refused');
  expect(cni('DEL', vf).status === 0, 'DEL');

  section('vhost-vdpa: the /dev/vhost-vdpa-N path goes into device-info');
  const vd = { cniVersion: '1.1.0', name: 'vdpa-net', type: 'dpdk-cni', deviceID: '0000:3b:10.0', runtimeConfig: { CNIDeviceInfoFile: '/var/run/k8s.cni.cncf.io/devinfo/cni/demo-vdpa-net-demo0001_net1' } };
  expect(cni('ADD', vd).status === 0, 'ADD');
  console.log(`  device-info file: ${readFileSync(join(root, vd.runtimeConfig.CNIDeviceInfoFile), 'utf8')}`);
  expect(cni('DEL', vd).status === 0, 'DEL');

  section('Kernel VF moved into a pod with host-local IPAM (needs root: real netns + veth)');
  if (!isRoot) {
    console.log('  skipped: not root (run "sudo npm run demo" to see this part)');
  } else {
    const sh = (...a) => spawnSync(a[0], a.slice(1), { encoding: 'utf8' });
    const id = process.pid.toString(36);
    const pod = `demo-pod-${id}`, park = `demo-park-${id}`, vfnet = `dvf${id}`.slice(0, 15);
    sh('ip', 'netns', 'add', pod);
    sh('ip', 'netns', 'add', park);
    try {
      sh('ip', 'link', 'add', vfnet, 'type', 'veth', 'peer', 'name', 'peer0', 'netns', park);
      sh('ip', 'link', 'set', vfnet, 'address', '02:00:00:00:aa:01');
      const kvf = vfs[5];
      node.bind(kvf, 'iavf');
      node.netdev(kvf, vfnet, { mac: '02:00:00:00:aa:01' });
      const haveIpam = existsSync('/usr/lib/cni/host-local');
      if (!haveIpam) console.log('  (no /usr/lib/cni/host-local: install containernetworking-plugins to see IPAM too; running without it)');
      const conf = { cniVersion: '1.1.0', name: 'kernel-vf', type: 'dpdk-cni', deviceID: kvf, mtu: 1400,
        ...(haveIpam ? { ipam: { type: 'host-local', subnet: '10.56.0.0/24', dataDir: join(root, 'ipam') } } : {}) };
      const opts = { netns: `/run/netns/${pod}` };
      const a = cni('ADD', conf, opts);
      expect(a.status === 0, `ADD moved the VF netdev into the pod as net1 with MTU 1400${haveIpam ? ' and 10.56.0.2/24' : ''}`);
      console.log(`  in the pod: ${sh('ip', '-n', pod, '-br', 'addr', 'show', 'dev', 'net1').stdout.trim()}`);
      expect(cni('CHECK', { ...conf, prevResult: JSON.parse(a.stdout) }, opts).status === 0, 'CHECK verified name, MAC, MTU, up and address in the pod');
      expect(cni('DEL', conf, opts).status === 0, 'DEL moved it back');
      const back = JSON.parse(sh('ip', '-j', 'link', 'show', 'dev', vfnet).stdout || '[]')[0];
      expect(back?.mtu === 1500, `back in the host as ${vfnet} with MTU ${back?.mtu}`);
    } finally {
      sh('ip', 'link', 'del', vfnet);
      sh('ip', 'netns', 'del', pod);
      sh('ip', 'netns', 'del', park);
    }
  }
  console.log(`\n${failures === 0 ? bold('demo finished: everything behaved as expected') : bold(`demo finished with ${failures} unexpected result(s)`)}`);
} catch (e) {
  console.error(`demo failed: ${e.message}`);
  failures++;
} finally {
  rmSync(root, { recursive: true, force: true });
}
process.exitCode = failures ? 1 : 0;
