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
import { SimNode } from '../dist/sim/simnode.mjs';

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
function parse(s) {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
/** A claim that the plugin succeeded: exit 0 and, when given, what the result must show. */
function succeeded(res, what, check = () => true) {
  const j = parse(res.stdout);
  expect(res.status === 0 && (res.stdout.trim() === '' || j !== undefined) && check(j ?? {}), what);
  return j;
}
/** A claim that the plugin refused: exit 1 with this CNI code, and a message giving this reason. */
function refused(res, code, reason, what) {
  const j = parse(res.stdout) ?? {};
  const ok = res.status === 1 && j.code === code && reason.test(String(j.msg ?? ''));
  expect(ok, `${what}: code ${j.code ?? '(none)'}`);
  if (!ok) console.log(`    expected exit 1, code ${code} and a message matching ${reason}; got exit ${res.status}: ${j.msg ?? res.stdout.trim()}`);
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
  succeeded(v, 'five CNI versions supported', (j) => j.supportedVersions?.join(' ') === '0.3.0 0.3.1 0.4.0 1.0.0 1.1.0');

  section('DPDK: PF-less NIC on vfio-pci (AWS ENA shape), device-info for Multus');
  const devinfo = '/var/run/k8s.cni.cncf.io/devinfo/cni/demo-dpdk-net-demo0001_net1';
  const ena = { cniVersion: '1.1.0', name: 'dpdk-net', type: 'dpdk-cni', deviceID: '0000:00:06.0', runtimeConfig: { CNIDeviceInfoFile: devinfo } };
  // each attachment names its own device-info file, as Multus does: <ns>-<nad>-<containerID>_<ifname>
  const own = (cid, ifname) => ({ ...ena, runtimeConfig: { CNIDeviceInfoFile: `/var/run/k8s.cni.cncf.io/devinfo/cni/demo-dpdk-net-${cid}_${ifname}` } });
  // asked while the device is free, so the only possible reason is the missing PF
  const bad = cni('ADD', { ...own('demo0002', 'net1'), vlan: 100 }, { cid: 'demo0002' });
  refused(bad, 103, /has no PF.*vlan cannot be applied/, 'a VLAN on a PF-less device is refused with a clear reason');
  const a1 = cni('ADD', ena);
  succeeded(a1, 'ADD succeeded; result names the interface, sandbox and pciID', (j) =>
    j.interfaces?.[0]?.name === 'net1' && j.interfaces[0].sandbox === livePod && j.interfaces[0].pciID === '0000:00:06.0');
  const info = existsSync(join(root, devinfo)) ? readFileSync(join(root, devinfo), 'utf8') : '';
  console.log(`  device-info file: ${info || '(missing)'}`);
  expect(parse(info)?.pci?.['pci-address'] === '0000:00:06.0', 'device-info names the PCI address for Multus');
  succeeded(cni('CHECK', ena), 'CHECK verified the device is still on vfio-pci');
  const ena2 = cni('ADD', own('other', 'net2'), { cid: 'other', ifname: 'net2' });
  refused(ena2, 102, /already (allocated|attached|in use)|demo0001/, 'a second pod asking for the same device is refused (already allocated)');
  succeeded(cni('DEL', ena), 'DEL released it and removed the device-info file');
  expect(!existsSync(join(root, devinfo)), 'device-info file gone');
  succeeded(cni('DEL', ena), 'a repeated DEL succeeds');

  section('DPDK: SR-IOV VF on vfio-pci, MTU from the PF');
  const vf = { cniVersion: '1.0.0', name: 'sriov-dpdk', type: 'dpdk-cni', deviceID: vfs[3] };
  const a2 = cni('ADD', vf);
  succeeded(a2, `VF ${vfs[3]} reported with the PF's MTU 9000`, (j) => j.interfaces?.[0]?.mtu === 9000 && j.interfaces[0].pciID === vfs[3]);
  // another, free VF of the same PF: the only possible reason is the MTU
  const m = cni('ADD', { ...vf, deviceID: vfs[4], mtu: 9600 }, { cid: 'demo0003', ifname: 'net3' });
  refused(m, 2, /"mtu" 9600 is above the MTU of PF ens1f0 \(9000\)/, 'an MTU above the PF MTU is refused');
  succeeded(cni('DEL', vf), 'DEL');

  section('vhost-vdpa: the /dev/vhost-vdpa-N path goes into device-info');
  const vd = { cniVersion: '1.1.0', name: 'vdpa-net', type: 'dpdk-cni', deviceID: '0000:3b:10.0', runtimeConfig: { CNIDeviceInfoFile: '/var/run/k8s.cni.cncf.io/devinfo/cni/demo-vdpa-net-demo0001_net1' } };
  succeeded(cni('ADD', vd), 'ADD', (j) => j.interfaces?.[0]?.pciID === '0000:3b:10.0');
  const vinfo = existsSync(join(root, vd.runtimeConfig.CNIDeviceInfoFile)) ? readFileSync(join(root, vd.runtimeConfig.CNIDeviceInfoFile), 'utf8') : '';
  console.log(`  device-info file: ${vinfo || '(missing)'}`);
  expect(parse(vinfo)?.vdpa?.path === '/dev/vhost-vdpa-0', 'device-info gives the app /dev/vhost-vdpa-0');
  succeeded(cni('DEL', vd), 'DEL');

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
      const inPod = parse(sh('ip', '-n', pod, '-j', 'addr', 'show', 'dev', 'net1').stdout || '[]')?.[0];
      const addrs = (inPod?.addr_info ?? []).map((x) => `${x.local}/${x.prefixlen}`);
      succeeded(a, `ADD moved the VF netdev into the pod as net1 with MTU 1400${haveIpam ? ' and 10.56.0.2/24' : ''}`, () =>
        inPod?.mtu === 1400 && (!haveIpam || addrs.includes('10.56.0.2/24')));
      console.log(`  in the pod: ${sh('ip', '-n', pod, '-br', 'addr', 'show', 'dev', 'net1').stdout.trim()}`);
      succeeded(cni('CHECK', { ...conf, prevResult: parse(a.stdout) }, opts), 'CHECK verified name, MAC, MTU, up and address in the pod');
      succeeded(cni('DEL', conf, opts), 'DEL moved it back');
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
