/**
 * ADD/DEL/CHECK/GC orchestration through runCni against the in-memory fake host (fake-host.ts): a
 * DPDK-mode VF (vfio-pci) in a simulated sysfs, the state and device-info directories in memory, a
 * scripted IPAM plugin. Each call takes milliseconds; the integration tier runs the same verbs in
 * the built executable against real namespaces.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, fakeHost, type FakeHost } from './fake-host.js';
import { runCni } from '../../src/cni/skel.js';
import { handlers } from '../../src/verbs/index.js';
import { makeHost } from '../../src/sys/host.js';
import { stderrLogger } from '../../src/log/logger.js';

const PCI = ['0000:5e:01.2', '0000:5e:01.3'];
const NETNS = '/var/run/netns/pod-a';
const PLUGINS = '/opt/cni/bin';
const STATE = '/var/lib/cni/dpdk-cni';
const DEVINFO = '/var/run/k8s.cni.cncf.io/devinfo/cni';

let h: FakeHost;

/** A node with two DPDK VFs (no PF netdev), a live pod netns and a host-local IPAM plugin. */
function node(): FakeHost {
  const host = fakeHost();
  const fs = host.fs;
  for (const pci of PCI) {
    const dir = host.p(`/sys/bus/pci/devices/${pci}`);
    fs.file(`${dir}/vendor`, '0x8086\n').file(`${dir}/device`, '0x154c\n').file(`${dir}/numa_node`, '0\n');
    fs.symlink(`${dir}/driver`, '../../../bus/pci/drivers/vfio-pci');
    fs.symlink(`${dir}/iommu_group`, '../../../kernel/iommu_groups/42');
  }
  fs.dir(host.p('/sys/bus/pci/drivers/vfio-pci'));
  fs.file(`${PLUGINS}/host-local`, '#!/bin/sh\n', 0o755);
  fs.liveNetns.add(NETNS);
  let n = 5;
  host.bounded = (r) => {
    const cmd = r.env?.CNI_COMMAND;
    if (cmd === 'ADD') return { stdout: JSON.stringify({ cniVersion: '1.1.0', ips: [{ address: `10.1.0.${n++}/24` }] }) };
    if (cmd === 'VERSION') return { stdout: JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] }) };
    return undefined;
  };
  return host;
}

function conf(pci: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.1.0', name: 'dpdk-net', type: 'dpdk-cni', deviceID: pci, ipam: { type: 'host-local', subnet: '10.1.0.0/24' }, ...extra };
}

function env(command: string, containerId = 'c0ffee', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { CNI_COMMAND: command, CNI_PATH: PLUGINS, ...extra };
  if (command !== 'GC' && command !== 'STATUS') Object.assign(e, { CNI_CONTAINERID: containerId, CNI_NETNS: NETNS, CNI_IFNAME: 'net1' });
  return e;
}

const devinfo = (containerId: string) => `${DEVINFO}/ns-dpdk-net-${containerId}_net1`;
const withDevinfo = (pci: string, containerId = 'c0ffee') => conf(pci, { runtimeConfig: { CNIDeviceInfoFile: devinfo(containerId) } });

/** Every file the plugin keeps on the node: state, markers, device-info. */
function files(): string[] {
  return [...Object.keys(h.fs.files(h.p(STATE))).map((f) => `state/${f}`), ...Object.keys(h.fs.files(h.p(DEVINFO))).map((f) => `devinfo/${f}`)].sort();
}
const ipamCalls = () => h.ran.filter((r) => r.file === `${PLUGINS}/host-local`).map((r) => r.env?.CNI_COMMAND);

beforeAll(async () => {
  // the verbs' modules are loaded (and transformed by vitest) on their first call
  h = node();
  await call(h, env('ADD'), conf(PCI[0]!));
  await call(h, env('DEL'), conf(PCI[0]!));
});

beforeEach(() => {
  h = node();
});

describe('verbs against the fake host (DPDK mode)', () => {
  it('ADD writes the state, the allocation marker and the device-info file; DEL removes exactly those', async () => {
    const add = await call(h, env('ADD'), withDevinfo(PCI[0]!));
    expect(add.json, add.stdout).toMatchObject({ cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/24' }] });
    expect(add.exitCode).toBe(0);
    expect(files()).toEqual([`devinfo/ns-dpdk-net-c0ffee_net1`, `state/attachments/dpdk-net@c0ffee@net1.json`, `state/devices/${PCI[0]}.json`]);
    const info = JSON.parse(h.fs.readText(h.p(devinfo('c0ffee'))) as string);
    expect(info).toMatchObject({ type: 'pci', pci: { 'pci-address': PCI[0] } });
    const st = JSON.parse(h.fs.readText(h.p(`${STATE}/attachments/dpdk-net@c0ffee@net1.json`)) as string);
    expect(st).toMatchObject({ phase: 'added', mode: 'dpdk', pci: PCI[0], netns: NETNS });
    expect(h.fs.openFds).toBe(0);

    const del = await call(h, env('DEL'), withDevinfo(PCI[0]!));
    expect(del.exitCode, del.stdout).toBe(0);
    expect(del.stdout).toBe('');
    expect(files()).toEqual([]);
    expect(ipamCalls()).toEqual(['ADD', 'DEL']);
    expect(h.ran.filter((r) => r.file.startsWith('/usr/sbin/'))).toEqual([]); // DPDK mode runs no ip
  });

  it('a failure in the middle of ADD (the device-info write) leaves nothing: state, marker and IPAM released', async () => {
    h.fs.failWrite = (p) => p.includes('/devinfo/');
    const add = await call(h, env('ADD'), withDevinfo(PCI[0]!));
    expect(add.exitCode).toBe(1);
    expect(add.json).toMatchObject({ code: 109 });
    expect(add.json.msg).toContain('cannot write device-info file');
    expect(files()).toEqual([]);
    expect(ipamCalls()).toEqual(['ADD', 'DEL']);
    h.fs.failWrite = () => false;
    // the device is free again: the next ADD gets it
    expect((await call(h, env('ADD', 'beef'), withDevinfo(PCI[0]!, 'beef'))).exitCode).toBe(0);
  });

  it('an IPAM plugin that fails ADD: 106, and nothing is left', async () => {
    h.bounded = (r) => (r.env?.CNI_COMMAND === 'ADD' ? { code: 1, stdout: JSON.stringify({ cniVersion: '1.1.0', code: 11, msg: 'no addresses left' }) } : undefined);
    const add = await call(h, env('ADD'), withDevinfo(PCI[0]!));
    expect(add.json).toMatchObject({ code: 106 });
    expect(files()).toEqual([]);
  });

  it('DEL with the state gone succeeds, releases IPAM and removes the marker and device-info file', async () => {
    expect((await call(h, env('ADD'), withDevinfo(PCI[0]!))).exitCode).toBe(0);
    expect(h.fs.remove(h.p(`${STATE}/attachments/dpdk-net@c0ffee@net1.json`))).toBe(true);
    const del = await call(h, env('DEL'), withDevinfo(PCI[0]!));
    expect(del.exitCode, del.stdout).toBe(0);
    expect(files()).toEqual([]);
    expect(ipamCalls()).toEqual(['ADD', 'DEL']);
    expect(del.logs.some((l) => String(l.msg).startsWith('no saved state for this attachment'))).toBe(true);
  });

  it('DEL with a netconf edited into an invalid form after ADD uses the one ADD saved (IPAM DEL gets it)', async () => {
    expect((await call(h, env('ADD'), withDevinfo(PCI[0]!))).exitCode).toBe(0);
    const del = await call(h, env('DEL'), { ...withDevinfo(PCI[0]!), mtu: 'big' });
    expect(del.exitCode, del.stdout).toBe(0);
    expect(files()).toEqual([]);
    const ipamDel = h.ran.find((r) => r.env?.CNI_COMMAND === 'DEL');
    expect(JSON.parse(ipamDel?.input ?? '{}').mtu).toBeUndefined();
    expect(del.logs.some((l) => l.msg === 'the given netconf is invalid; DEL uses the one saved at ADD')).toBe(true);
  });

  it('CHECK passes after ADD and fails (108) once the device was rebound to another driver', async () => {
    expect((await call(h, env('ADD'), withDevinfo(PCI[0]!))).exitCode).toBe(0);
    const prevResult = JSON.parse((await call(h, env('ADD', 'c2'), withDevinfo(PCI[1]!, 'c2'))).stdout);
    const ok = await call(h, env('CHECK', 'c2'), { ...withDevinfo(PCI[1]!, 'c2'), prevResult });
    expect(ok.exitCode, ok.stdout).toBe(0);
    h.fs.remove(h.p(`/sys/bus/pci/devices/${PCI[1]}/driver`));
    h.fs.symlink(h.p(`/sys/bus/pci/devices/${PCI[1]}/driver`), '../../../bus/pci/drivers/igb_uio');
    const bad = await call(h, env('CHECK', 'c2'), { ...withDevinfo(PCI[1]!, 'c2'), prevResult });
    expect(bad.json, bad.stdout).toMatchObject({ code: 108 });
  });

  it('GC releases only the attachments not in cni.dev/valid-attachments', async () => {
    expect((await call(h, env('ADD', 'keep'), withDevinfo(PCI[0]!, 'keep'))).exitCode).toBe(0);
    expect((await call(h, env('ADD', 'gone'), withDevinfo(PCI[1]!, 'gone'))).exitCode).toBe(0);
    const gc = await call(h, env('GC'), conf(PCI[0]!, { 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }] }));
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(files()).toEqual([`devinfo/ns-dpdk-net-keep_net1`, `state/attachments/dpdk-net@keep@net1.json`, `state/devices/${PCI[0]}.json`]);
    const dels = h.ran.filter((r) => r.env?.CNI_COMMAND === 'DEL');
    expect(dels.map((r) => r.env?.CNI_CONTAINERID)).toEqual(['gone']);
  });

  it('runs in milliseconds: ADD + DEL of one attachment', async () => {
    const t0 = performance.now();
    await call(h, env('ADD'), withDevinfo(PCI[0]!));
    await call(h, env('DEL'), withDevinfo(PCI[0]!));
    expect(performance.now() - t0).toBeLessThan(200);
  });
});

describe('runCni collaborators', () => {
  it('a host factory that refuses DPDK_CNI_ROOT (relative) is an environment error, 4', async () => {
    const lines: string[] = [];
    const out = await runCni(
      { ...env('ADD'), DPDK_CNI_ROOT: 'relative/root' },
      { handlers, host: (e) => makeHost(e), logger: (c, _h, b) => stderrLogger(c.logLevel, b, { write: (t) => void lines.push(t), close: () => undefined }), stdin: () => JSON.stringify(conf(PCI[0]!)) },
    );
    expect(out.exitCode).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 4, msg: 'DPDK_CNI_ROOT must be an absolute path, got "relative/root"' });
    expect(lines.join('')).toContain('DPDK_CNI_ROOT must be an absolute path');
  });

  it('the answer goes through the stdout collaborator exactly once; a failing write makes the call fail (exit 1)', async () => {
    const written: string[] = [];
    const c = { handlers, host: () => h, logger: () => stderrLogger('info', {}, { write: () => undefined, close: () => undefined }), stdin: () => '' };
    const ok = await runCni({ CNI_COMMAND: 'VERSION' }, { ...c, stdout: (t: string) => void written.push(t) });
    expect(written).toEqual([ok.stdout]);
    const broken = await runCni({ CNI_COMMAND: 'VERSION' }, { ...c, stdout: () => { throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' }); } });
    expect(broken).toEqual({ stdout: '', exitCode: 1 });
  });
});
