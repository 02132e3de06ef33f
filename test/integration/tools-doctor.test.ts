import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cni, isRoot, REPO, sh, tempDir } from '../helpers/cni.js';
import { NetFixture } from '../helpers/netns.js';
import { awsNode, ENA_VFIO, PF, sriovNode, tool } from './tools-helpers.js';

/** `dpdk-cni doctor` on simulated nodes: one line per check, a fix for each problem, exit 0/1/2. */
const VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-doctor-');
});
afterEach(() => dir.cleanup());

function install(root: string, script?: string): void {
  const d = join(root, 'opt/cni/bin');
  mkdirSync(d, { recursive: true });
  if (script) {
    writeFileSync(join(d, 'dpdk-cni'), script);
    chmodSync(join(d, 'dpdk-cni'), 0o755);
  } else {
    copyFileSync(BIN, join(d, 'dpdk-cni'));
  }
}

function check(j: any, id: string): any {
  return j.checks.find((c: any) => c.id === id);
}

describe('doctor on an AWS-style node (ENA, no IOMMU, vfio no-IOMMU mode)', () => {
  it('a prepared node passes every check, exit 0, and the human report has one line per check', () => {
    const n = awsNode(dir.path);
    install(n.root);
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(0);
    expect(r.json.status).toBe('pass');
    expect(r.json.root).toBe(n.root);
    expect(r.json.checks.map((c: any) => [c.id, c.status])).toEqual([
      ['iommu', 'pass'], ['vfio', 'pass'], ['hugepages', 'pass'], ['hugetlbfs', 'pass'],
      ['nic:0000:00:06.0', 'pass'], ['vfio-dev:0000:00:06.0', 'pass'], ['nic:0000:00:07.0', 'pass'],
      ['vdpa', 'pass'], ['dp-config', 'pass'], ['cni-binary', 'pass'], ['state', 'pass'],
    ]);
    expect(check(r.json, 'iommu').message).toContain('vfio no-IOMMU mode is on');
    expect(check(r.json, 'vfio-dev:0000:00:06.0').message).toMatch(/\/dev\/vfio\/noiommu-\d+ present/);
    expect(check(r.json, 'nic:0000:00:07.0').message).toBe('0000:00:07.0, 1d0f:ec20, ena, ens7, NUMA 0, no IOMMU group');
    expect(check(r.json, 'hugepages').message).toBe('hugepages reserved: 512 x 2 MiB (512 free), 1 GiB in total');
    expect(check(r.json, 'cni-binary').message).toBe(`/opt/cni/bin/dpdk-cni ${VERSION}, CNI spec 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0`);
    // the NVMe disk is not a candidate NIC
    expect(r.json.checks.some((c: any) => c.id.includes('0000:00:04.0'))).toBe(false);

    const h = tool(['doctor'], n.root);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^PASS {2}iommu +no IOMMU; vfio no-IOMMU mode is on/m);
    expect(h.stdout).toMatch(/^PASS {2}nic:0000:00:06\.0 +0000:00:06\.0, 1d0f:ec20, vfio-pci, NUMA 0, IOMMU group \d+ \(no-IOMMU\)$/m);
    expect(h.stdout).toContain('11 pass, 0 warn, 0 fail: ready');
  });

  it('no hugepages, vfio not loaded, no-IOMMU mode off, plugin missing: exit 2 with a fix for each', () => {
    const n = awsNode(dir.path);
    n.hugepages(2048, 0);
    n.noiommu(false);
    rmSync(join(n.root, 'sys/bus/pci/drivers/vfio-pci'), { recursive: true });
    rmSync(join(n.root, 'sys/module/vfio_pci'), { recursive: true });
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(2);
    expect(r.json.summary.fail).toBe(4);
    expect(check(r.json, 'iommu')).toMatchObject({ status: 'fail', message: expect.stringContaining("no IOMMU, and vfio's no-IOMMU mode is off") });
    expect(check(r.json, 'iommu').fix).toContain('echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode');
    expect(check(r.json, 'iommu').fix).toContain('intel_iommu=on');
    expect(check(r.json, 'vfio')).toMatchObject({ status: 'fail', fix: expect.stringContaining('modprobe vfio-pci') });
    expect(check(r.json, 'hugepages')).toMatchObject({ status: 'fail', fix: expect.stringContaining('echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages') });
    expect(check(r.json, 'cni-binary')).toMatchObject({ status: 'fail', message: '/opt/cni/bin/dpdk-cni is not installed: the runtime cannot run the plugin' });
    const h = tool(['doctor'], n.root);
    expect(h.stdout).toMatch(/^FAIL {2}hugepages +no hugepages reserved: DPDK applications cannot start\n +fix: echo 1024 >/m);
    expect(h.stdout).toContain('fail: NOT ready');
  });

  it('warns about an unmounted hugetlbfs, all hugepages in use, and an older installed plugin: exit 1', () => {
    const n = awsNode(dir.path);
    rmSync(join(n.root, 'proc/mounts'));
    n.hugepages(2048, 512, 0);
    install(n.root, '#!/bin/sh\nif [ "$CNI_COMMAND" = VERSION ]; then echo \'{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}\'; exit 0; fi\n[ "$1" = --version ] && echo 0.0.9\n');
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(1);
    expect(r.json.status).toBe('warn');
    expect(check(r.json, 'hugetlbfs')).toMatchObject({ status: 'warn', fix: expect.stringContaining('mount -t hugetlbfs nodev /dev/hugepages') });
    expect(check(r.json, 'hugepages')).toMatchObject({ status: 'warn', message: 'hugepages reserved but none free: 512 x 2 MiB (0 free)' });
    expect(check(r.json, 'cni-binary')).toMatchObject({ status: 'warn', message: `/opt/cni/bin/dpdk-cni 0.0.9, CNI spec 0.4.0, 1.0.0; this tool is ${VERSION}` });
  });

  it('an installed plugin that does not run as a CNI plugin fails', () => {
    const n = awsNode(dir.path);
    install(n.root, '#!/bin/sh\n[ "$1" = --version ] && { echo 9.9.9; exit 0; }\necho \'{"code":4,"msg":"broken"}\'; exit 1\n');
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(2);
    expect(check(r.json, 'cni-binary').message).toContain('fails CNI_COMMAND=VERSION (exit 1)');
  });

  it('a vfio-pci device whose /dev/vfio node is missing fails with what to check', () => {
    const n = awsNode(dir.path);
    install(n.root);
    rmSync(join(n.root, 'dev/vfio'), { recursive: true });
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(2);
    const c = check(r.json, `vfio-dev:${ENA_VFIO}`);
    expect(c.status).toBe('fail');
    expect(c.message).toMatch(/is on vfio-pci but \/dev\/vfio\/vfio and \/dev\/vfio\/noiommu-\d+ are missing/);
    expect(c.fix).toContain('devtmpfs');
  });

  it('a stale attachment (its netns is gone) is a warning with the DEL command that releases it', () => {
    const n = awsNode(dir.path);
    install(n.root);
    const st = {
      version: 1, phase: 'added', key: { net: 'ena-net', containerID: 'deadbeef', ifname: 'net1' }, netns: '/run/netns/dpdk-cni-test-gone',
      mode: 'dpdk', pci: ENA_VFIO, driver: 'vfio-pci', netconf: '{}', ipam: false, createdAt: '2025-01-01T00:00:00Z',
    };
    mkdirSync(join(n.root, 'var/lib/cni/dpdk-cni/attachments'), { recursive: true });
    writeFileSync(join(n.root, 'var/lib/cni/dpdk-cni/attachments/ena-net@deadbeef@net1.json'), JSON.stringify(st));
    // and a live one: this test process's own netns stands in for a running pod
    const live = { ...st, key: { ...st.key, containerID: 'a11ve' }, netns: `/proc/${process.pid}/ns/net`, pci: '0000:00:07.0' };
    writeFileSync(join(n.root, 'var/lib/cni/dpdk-cni/attachments/ena-net@a11ve@net1.json'), JSON.stringify(live));
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(1);
    const c = check(r.json, `state:${ENA_VFIO}`);
    expect(c.status).toBe('warn');
    expect(c.message).toContain('attachment ena-net/deadbeef/net1 (0000:00:06.0, dpdk): its network namespace /run/netns/dpdk-cni-test-gone is gone but DEL never came');
    expect(c.fix).toContain("the runtime's next CNI GC or the next ADD of 0000:00:06.0 releases it");
    expect(c.fix).toContain(`jq -r .netconf ${n.root}/var/lib/cni/dpdk-cni/attachments/ena-net@deadbeef@net1.json | CNI_COMMAND=DEL CNI_CONTAINERID=deadbeef CNI_IFNAME=net1`);
    expect(r.json.checks.filter((x: any) => x.id.startsWith('state')).length).toBe(1);
  });

  it.runIf(isRoot)('the DEL line doctor prints for a stale attachment really releases it', () => {
    const n = awsNode(dir.path);
    install(n.root);
    const net = new NetFixture();
    try {
      const netns = net.netns('gone');
      const conf = { cniVersion: '1.1.0', name: 'ena-net', type: 'dpdk-cni', deviceID: ENA_VFIO };
      expect(cni({ command: 'ADD', root: n.root, netns, containerId: 'stale0001', conf }).code).toBe(0);
      expect(check(tool(['doctor', '--json'], n.root).json, 'state').message).toBe('1 attachment(s), all with live network namespaces');
      sh('ip', ['netns', 'del', netns.split('/').pop() as string]);
      const r = tool(['doctor', '--json'], n.root);
      expect(r.code).toBe(1);
      const fix = check(r.json, `state:${ENA_VFIO}`).fix as string;
      const line = fix.slice(fix.indexOf('jq -r'));
      expect(line).toContain(`DPDK_CNI_ROOT=${n.root} ${n.root}/opt/cni/bin/dpdk-cni`);
      const run = sh('sh', ['-c', line]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const after = tool(['doctor', '--json'], n.root);
      expect(after.code).toBe(0);
      expect(check(after.json, 'state').message).toBe('no attachments in /var/lib/cni/dpdk-cni');
    } finally {
      net.cleanup();
    }
  });

  it('checks /etc/pcidp/config.json when present: a selector that matches nothing fails with the bind command', () => {
    const n = awsNode(dir.path);
    install(n.root);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    writeFileSync(join(n.root, 'etc/pcidp/config.json'), JSON.stringify({
      resourceList: [
        { resourcePrefix: 'aws.amazon.com', resourceName: 'ena_dpdk', selectors: [{ vendors: ['1d0f'], devices: ['ec20'], drivers: ['vfio-pci'] }] },
        { resourcePrefix: 'aws.amazon.com', resourceName: 'ena_uio', selectors: [{ vendors: ['1d0f'], drivers: ['igb_uio'] }] },
      ],
    }));
    const r = tool(['doctor', '--json'], n.root);
    expect(r.code).toBe(2);
    expect(check(r.json, 'dp-config:aws.amazon.com/ena_dpdk')).toMatchObject({ status: 'pass', message: '/etc/pcidp/config.json: aws.amazon.com/ena_dpdk: 1 device(s): 0000:00:06.0 (vfio-pci)' });
    const bad = check(r.json, 'dp-config:aws.amazon.com/ena_uio');
    expect(bad.status).toBe('fail');
    expect(bad.message).toContain('selects no device');
    expect(bad.fix).toBe('dpdk-cni bind 0000:00:06.0 0000:00:07.0 --driver igb_uio');
  });

  it('--skip leaves checks out; an unknown check name is an error', () => {
    const n = awsNode(dir.path);
    const r = tool(['doctor', '--json', '--skip', 'cni-binary,state'], n.root);
    expect(r.code).toBe(0);
    expect(r.json.checks.map((c: any) => c.id)).not.toContain('cni-binary');
    const u = tool(['doctor', '--skip', 'hugepage'], n.root);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('--skip hugepage: unknown check');
  });
});

describe('doctor on an SR-IOV node with an IOMMU', () => {
  it('lists the PF and VFs with NUMA and IOMMU groups, warns about a shared IOMMU group, checks vDPA nodes', () => {
    const { node, vfs, vdpaPci } = sriovNode(dir.path);
    install(node.root);
    // two VFs land in one IOMMU group (no ACS between them)
    node.pci('0000:af:00.0', { driver: 'iavf', device: '1889', iommuGroup: 40 });
    node.pci('0000:af:00.1', { driver: 'vfio-pci', device: '1889', iommuGroup: 40 });
    node.vfioNodes('0000:af:00.1');
    const r = tool(['doctor', '--json'], node.root);
    expect(check(r.json, 'iommu').message).toMatch(/^IOMMU on: dmar0 \(\d+ IOMMU groups\)$/);
    expect(check(r.json, `nic:${PF}`).message).toBe(`${PF}, 8086:1592, ice, ens1f0, PF with 4 VFs, NUMA 0, IOMMU group 10`);
    expect(check(r.json, `nic:${vfs[1]}`).message).toMatch(new RegExp(`^${vfs[1]}, 8086:1889, vfio-pci, VF 1 of ens1f0, NUMA 0, IOMMU group \\d+$`));
    expect(check(r.json, `vfio-dev:${vfs[0]}`).status).toBe('pass');
    expect(check(r.json, 'hugepages').message).toBe('hugepages reserved: 8 x 1 GiB (8 free), 8 GiB in total');
    const g = check(r.json, 'iommu-group:0000:af:00.1');
    expect(g.status).toBe('warn');
    expect(g.message).toContain('shares IOMMU group 40 with 0000:af:00.0');
    expect(g.fix).toBe('bind the whole group: dpdk-cni bind 0000:af:00.1 0000:af:00.0 --driver vfio-pci, or enable ACS / use a slot with its own group');
    // vhost-vdpa device without its /dev node: fail; with it: pass
    expect(check(r.json, 'vdpa:vdpa0')).toMatchObject({ status: 'fail', message: `vDPA device vdpa0 on ${vdpaPci} is on vhost_vdpa but /dev/vhost-vdpa-0 is missing` });
    mkdirSync(join(node.root, 'dev'), { recursive: true });
    writeFileSync(join(node.root, 'dev/vhost-vdpa-0'), '');
    const r2 = tool(['doctor', '--json'], node.root);
    expect(check(r2.json, 'vdpa:vdpa0')).toMatchObject({ status: 'pass', message: `vDPA device vdpa0 on ${vdpaPci}: vhost_vdpa, /dev/vhost-vdpa-0` });
    expect(r2.code).toBe(1);
  });

  it('a device on uio_pci_generic gets a warning: the device plugin mounts nothing for it', () => {
    const { node, vfs } = sriovNode(dir.path);
    node.bind(vfs[2] as string, 'uio_pci_generic');
    const r = tool(['doctor', '--json', '--skip', 'cni-binary'], node.root);
    expect(check(r.json, `uio:${vfs[2]}`)).toMatchObject({ status: 'warn', fix: expect.stringContaining(`dpdk-cni bind ${vfs[2]} --driver vfio-pci`) });
  });
});
