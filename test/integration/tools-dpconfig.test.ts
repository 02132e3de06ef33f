import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cni.js';
import { awsNode, ENA_KERNEL, ENA_VFIO, PF, read, sriovNode, tool } from './tools-helpers.js';

/** `dpdk-cni dp-config`: the SR-IOV network device plugin config, generated from and checked against the node. */
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-dpconfig-');
});
afterEach(() => dir.cleanup());

const CONF = 'etc/pcidp/config.json';

function writeConf(root: string, conf: unknown): void {
  mkdirSync(join(root, 'etc/pcidp'), { recursive: true });
  writeFileSync(join(root, CONF), typeof conf === 'string' ? conf : JSON.stringify(conf));
}

describe('generate', () => {
  it('AWS ENA on vfio-pci: prints the device plugin config, the pool on stderr', () => {
    const n = awsNode(dir.path);
    const r = tool(['dp-config', '-r', 'aws.amazon.com/ena=vendor:1d0f,device:ec20,driver:vfio-pci'], n.root);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      resourceList: [{
        resourceName: 'ena', resourcePrefix: 'aws.amazon.com', deviceType: 'netDevice',
        selectors: [{ vendors: ['1d0f'], devices: ['ec20'], drivers: ['vfio-pci'] }],
      }],
    });
    expect(r.stderr).toBe(`PASS  aws.amazon.com/ena: 1 device(s): ${ENA_VFIO} (vfio-pci)\n`);
  });

  it('--write replaces the file atomically (0644, no temp files) with exactly the generated config', () => {
    const n = awsNode(dir.path);
    writeConf(n.root, { resourceList: [{ resourceName: 'old' }] });
    const args = ['dp-config', '-r', `x.io/two=pci:${ENA_VFIO},${ENA_KERNEL}`];
    const printed = tool(args, n.root).stdout;
    const w = tool([...args, '--write'], n.root);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain(`PASS  x.io/two: 2 device(s): ${ENA_VFIO} (vfio-pci), ${ENA_KERNEL} (ena)`);
    expect(w.stdout).toContain(`wrote ${n.root}/etc/pcidp/config.json`);
    expect(read(n.root, CONF)).toBe(printed);
    expect(statSync(join(n.root, CONF)).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(n.root, 'etc/pcidp'))).toEqual(['config.json']);
    // another path, created with its directory
    expect(tool([...args, '--write', '/etc/sriov-dp/custom.json'], n.root).code).toBe(0);
    expect(read(n.root, 'etc/sriov-dp/custom.json')).toBe(printed);
  });

  it('--write over an existing config keeps its permission bits (0640 stays 0640)', () => {
    const n = awsNode(dir.path);
    writeConf(n.root, { resourceList: [{ resourceName: 'old' }] });
    chmodSync(join(n.root, CONF), 0o640);
    expect(tool(['dp-config', '-r', `x.io/two=pci:${ENA_VFIO}`, '--write'], n.root).code).toBe(0);
    expect(statSync(join(n.root, CONF)).mode & 0o777).toBe(0o640);
    expect(JSON.parse(read(n.root, CONF)!).resourceList[0].resourceName).toBe('two');
  });

  it('SR-IOV: pf:<name>#<ranges> selects VFs by index, root: by PF address, vdpa: by vDPA type; a repeated name adds a selector object', () => {
    const { node, vfs, vdpaPci } = sriovNode(dir.path);
    const r = tool([
      'dp-config',
      '-r', 'intel.com/dpdk_vf=pf:ens1f0#0-1,driver:vfio-pci',
      '-r', `intel.com/kernel_vf=root:${PF}#3`,
      '-r', `intel.com/kernel_vf=root:${PF}#2`,
      '-r', 'nvidia.com/vdpa=vdpa:vhost',
    ], node.root);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.resourceList[0].selectors).toEqual([{ pfNames: ['ens1f0#0-1'], drivers: ['vfio-pci'] }]);
    expect(c.resourceList[1].selectors).toEqual([{ rootDevices: [`${PF}#3`] }, { rootDevices: [`${PF}#2`] }]);
    expect(c.resourceList[2].selectors).toEqual([{ vdpaType: 'vhost' }]);
    expect(r.stderr).toContain(`PASS  intel.com/dpdk_vf: 2 device(s): ${vfs[0]} (vfio-pci), ${vfs[1]} (vfio-pci)`);
    // the pool is in device order; each device joined through the first selector object it matched
    expect(r.stderr).toContain(`PASS  intel.com/kernel_vf: 2 device(s): ${vfs[2]} (iavf), ${vfs[3]} (iavf)`);
    expect(r.stderr).toContain(`PASS  nvidia.com/vdpa: 1 device(s): ${vdpaPci} (mlx5_core)`);
    // the PF itself has VFs enabled, so the device plugin skips it
    expect(r.stderr).not.toContain(`${PF} (ice)`);
  });

  it('a vendor selector that also matches the VFs of two pools warns about the overlap (exit 1)', () => {
    const { node, vfs } = sriovNode(dir.path);
    const r = tool(['dp-config', '-r', 'intel.com/all=vendor:8086', '-r', 'intel.com/dpdk=driver:vfio-pci'], node.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`WARN  ${vfs[0]} is selected by intel.com/all and intel.com/dpdk: the device plugin would offer it in both pools`);
    expect(JSON.parse(r.stdout).resourceList).toHaveLength(2);
  });

  it('--object-selectors writes the single-object form older device plugins read', () => {
    const n = awsNode(dir.path);
    const r = tool(['dp-config', '--object-selectors', '-r', 'aws.amazon.com/ena=vendor:1d0f,driver:vfio-pci'], n.root);
    expect(JSON.parse(r.stdout).resourceList[0].selectors).toEqual({ vendors: ['1d0f'], drivers: ['vfio-pci'] });
    const two = tool(['dp-config', '--object-selectors', '-r', 'x.io/a=driver:vfio-pci', '-r', 'x.io/a=driver:ena'], n.root);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('x.io/a has 2 selector objects, which the single-object syntax cannot express');
  });

  it('refuses to write a config whose resource selects no device, naming the reason and the fix', () => {
    const n = awsNode(dir.path);
    const r = tool(['dp-config', '-r', 'aws.amazon.com/ena_uio=vendor:1d0f,driver:igb_uio', '--write'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FAIL  selector 1 {"vendors":["1d0f"],"drivers":["igb_uio"]} selects no device: 2 device(s) match up to drivers ["igb_uio"], but they are on vfio-pci, ena');
    expect(r.stderr).toContain(`fix: dpdk-cni bind ${ENA_VFIO} ${ENA_KERNEL} --driver igb_uio`);
    expect(r.stderr).toContain('not writing a config that would not work on this node');
    expect(read(n.root, CONF)).toBeUndefined();
    const forced = tool(['dp-config', '-r', 'aws.amazon.com/ena_uio=vendor:1d0f,driver:igb_uio', '--write', '--allow-empty'], n.root);
    expect(forced.code).toBe(1);
    expect(read(n.root, CONF)).toContain('"igb_uio"');
  });

  it.each([
    ['aws.amazon.com/ena', 'expected <prefix>/<name>=<selector>'],
    ['ena=driver:vfio-pci', 'needs a prefix'],
    ['x.io/ena-dpdk=driver:vfio-pci', 'may only contain letters, digits and "_"'],
    ['x.io/ena=driver:vfio-pci,,device:ec20', 'empty value'],
    ['x.io/ena=colour:blue', '"colour:blue" is not a selector'],
    ['x.io/ena=vendor:1d0f0', '"1d0f0" is not a 4-digit hex vendor ID'],
    ['x.io/ena=pci:00:06.0', '"00:06.0" is not a full PCI address'],
    ['x.io/ena=vdpa:vhost-user', 'vdpa must be vhost or virtio'],
    ['x.io/ena=vdpa:vhost,rdma', 'rdma and vdpa cannot be combined'],
    ['x.io/ena=', 'the selector is empty'],
  ])('--resource %s is rejected: %s', (arg, msg) => {
    const n = awsNode(dir.path);
    const r = tool(['dp-config', '-r', arg, '--write'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(msg);
    expect(read(n.root, CONF)).toBeUndefined();
  });
});

describe('--check', () => {
  it('passes for a config whose pools all have devices (both selector syntaxes)', () => {
    const n = awsNode(dir.path);
    writeConf(n.root, { resourceList: [
      { resourcePrefix: 'aws.amazon.com', resourceName: 'ena_dpdk', selectors: [{ vendors: ['1d0f'], devices: ['ec20'], drivers: ['vfio-pci'] }] },
      { resourceName: 'ena_kernel', selectors: { pciAddresses: [ENA_KERNEL] } },
    ] });
    const r = tool(['dp-config', '--check'], n.root);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`/etc/pcidp/config.json\nPASS  aws.amazon.com/ena_dpdk: 1 device(s): ${ENA_VFIO} (vfio-pci)\nPASS  intel.com/ena_kernel: 1 device(s): ${ENA_KERNEL} (ena)\n`);
  });

  it('fails for addresses that do not exist, drivers that do not match, duplicate names; --json lists the findings', () => {
    const n = awsNode(dir.path);
    writeConf(n.root, { resourceList: [
      { resourcePrefix: 'aws.amazon.com', resourceName: 'ena', selectors: [{ pciAddresses: ['0000:00:09.0', ENA_KERNEL], drivers: ['vfio-pci'] }] },
      { resourcePrefix: 'aws.amazon.com', resourceName: 'ena', selectors: [{ vendors: ['1d0f'] }] },
    ] });
    const r = tool(['dp-config', '--check', '--json'], n.root);
    expect(r.code).toBe(2);
    expect(r.json.status).toBe('fail');
    const msgs = r.json.findings.map((f: any) => `${f.level} ${f.message}${f.fix ? ` | ${f.fix}` : ''}`);
    expect(msgs).toContain('fail aws.amazon.com/ena is defined 2 times; the device plugin needs unique names | merge them into one resource with a list of selector objects');
    expect(msgs).toContain('fail pciAddresses: 0000:00:09.0 does not exist on this node | remove it, or fix the address (dpdk-cni bind --status lists the network devices)');
    expect(msgs).toContain(`fail pciAddresses: ${ENA_KERNEL} is on ena, the selector wants drivers ["vfio-pci"] | dpdk-cni bind ${ENA_KERNEL} --driver vfio-pci`);
  });

  it('a PF with VFs listed by address is flagged (the device plugin skips such PFs)', () => {
    const { node } = sriovNode(dir.path);
    writeConf(node.root, { resourceList: [{ resourceName: 'pf', selectors: [{ pciAddresses: [PF] }] }] });
    const r = tool(['dp-config', '--check'], node.root);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`FAIL  pciAddresses: ${PF} is a PF with 4 VFs; the device plugin skips such PFs`);
  });

  it('reports a missing file, bad JSON and a wrong shape, with --config for another path', () => {
    const n = awsNode(dir.path);
    const missing = tool(['dp-config', '--check'], n.root);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('FAIL  /etc/pcidp/config.json does not exist');
    writeConf(n.root, '{"resourceList": [');
    expect(tool(['dp-config', '--check'], n.root).stdout).toContain('FAIL  /etc/pcidp/config.json: not valid JSON');
    writeConf(n.root, { resources: [] });
    expect(tool(['dp-config', '--check'], n.root).stdout).toContain('not a device plugin config: resourceList');
    mkdirSync(join(n.root, 'srv'), { recursive: true });
    writeFileSync(join(n.root, 'srv/dp.json'), JSON.stringify({ resourceList: [{ resourceName: 'a', selectors: [{ drivers: ['vfio-pci'] }] }] }));
    const other = tool(['dp-config', '--check', '--config', '/srv/dp.json'], n.root);
    expect(other.code).toBe(0);
    expect(other.stdout.startsWith('/srv/dp.json\nPASS')).toBe(true);
  });

  it('unknown selectors are reported as unchecked (warn), not silently ignored', () => {
    const n = awsNode(dir.path);
    writeConf(n.root, { resourceList: [{ resourceName: 'a', selectors: [{ drivers: ['vfio-pci'], acpiIndexes: ['101'] }] }] });
    const r = tool(['dp-config', '--check'], n.root);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('WARN  selector 1: acpiIndexes not checked by dpdk-cni');
    void readFileSync;
  });
});
