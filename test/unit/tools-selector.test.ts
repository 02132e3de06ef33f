import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/tools/dp-config/generate.js';
import { candidates, pools } from '../../src/tools/dp-config/match.js';
import { parseResourceArg } from '../../src/tools/dp-config/selector.js';
import { ToolError } from '../../src/tools/shared/errors.js';
import { makeHost } from '../../src/sys/host.js';
import { tempDir } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';

/** The dp-config `--resource` syntax and the device plugin's selector semantics. */
describe('parseResourceArg', () => {
  it.each([
    ['intel.com/dpdk=driver:vfio-pci', { drivers: ['vfio-pci'] }],
    ['aws.amazon.com/ena=vendor:1d0f,device:ec20', { vendors: ['1d0f'], devices: ['ec20'] }],
    ['x/y=pci:0000:00:06.0,0000:00:07.0', { pciAddresses: ['0000:00:06.0', '0000:00:07.0'] }],
    ['x/vdpa=vdpa:vhost', { vdpaType: 'vhost' }],
    ['x/v=vendor:8086,15B3,driver:vfio-pci,igb_uio', { vendors: ['8086', '15b3'], drivers: ['vfio-pci', 'igb_uio'] }],
    ['x/v=pf:ens1f0#0,2-7,9,driver:vfio-pci', { pfNames: ['ens1f0#0,2-7,9'], drivers: ['vfio-pci'] }],
    ['x/v=pf:ens1f0,ens2f0', { pfNames: ['ens1f0', 'ens2f0'] }],
    ['x/v=root:0000:3B:00.0#0-3', { rootDevices: ['0000:3b:00.0#0-3'] }],
    ['x/v=driver:vfio-pci,vhostnet', { drivers: ['vfio-pci'], needVhostNet: true }],
    ['x/v=link:ether,rdma:true', { linkTypes: ['ether'], isRdma: true }],
    ['x/v=vendors:8086,drivers:iavf,pciAddresses:0000:3b:02.0', { vendors: ['8086'], drivers: ['iavf'], pciAddresses: ['0000:3b:02.0'] }],
    ['x/v=driver:vfio-pci,vfio-pci', { drivers: ['vfio-pci'] }],
  ])('%s', (arg, selector) => {
    const r = parseResourceArg(arg);
    expect(r.selector).toEqual(selector);
  });

  it('splits prefix and name at the last slash', () => {
    expect(parseResourceArg('example.com/ena_dpdk=driver:vfio-pci')).toMatchObject({ prefix: 'example.com', name: 'ena_dpdk' });
  });

  it.each([
    'noslash=driver:x', 'x/na-me=driver:x', 'Bad_Prefix/x=driver:x', 'x/y=driver:a/b', 'x/y=device:12345',
    'x/y=pci:0000:00:06.0,bogus', 'x/y=vdpa:vhost,vdpa:virtio', 'x/y=rdma:maybe', 'x/y=vendor:', 'x/y=ec20', 'x/y',
  ])('rejects %s', (arg) => {
    expect(() => parseResourceArg(arg)).toThrow(ToolError);
  });
});

describe('selector matching (device plugin semantics)', () => {
  let dir: { path: string; cleanup: () => void };
  beforeEach(() => {
    dir = tempDir('dpdk-cni-selector-');
  });
  afterEach(() => dir.cleanup());

  it('pfNames ranges pick VFs by index; the PF with VFs is never a candidate; a device joins through the first selector it matches', () => {
    const n = new SimNode(dir.path);
    const vfs = n.sriovPf('0000:3b:00.0', { netdev: 'ens1f0', numVfs: 6, vfDriver: 'vfio-pci' });
    n.pci('0000:00:1f.2', { driver: 'ahci', pciClass: '0x010601' });
    const host = makeHost({ DPDK_CNI_ROOT: n.root });
    expect(candidates(host).map((d) => d.pci)).toEqual(vfs);
    const conf = buildConfig([
      parseResourceArg('x/a=pf:ens1f0#0,2-3'),
      parseResourceArg('x/a=pf:ens1f0#5'),
      parseResourceArg('x/b=root:0000:3b:00.0#1,4-4'),
      parseResourceArg('x/c=pf:ens9f9'),
    ], false);
    const p = pools(host, conf);
    expect(p.map((x) => [x.resource, x.devices.map((d) => d.pci)])).toEqual([
      ['x/a', [vfs[0], vfs[2], vfs[3], vfs[5]]],
      ['x/b', [vfs[1], vfs[4]]],
      ['x/c', []],
    ]);
    expect(p[0]?.perSelector.map((s) => s.length)).toEqual([3, 1]);
  });
});
