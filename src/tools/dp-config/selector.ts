import { isBdf } from '../../device/pci.js';
import { quote } from '../../cni/quote.js';
import { failed } from '../shared/errors.js';
import type { DpSelector } from './types.js';

/**
 * The `--resource` syntax: `<prefix>/<name>=<key>:<value>[,<value>...][,<key>:<value>...]`
 *   intel.com/dpdk=driver:vfio-pci
 *   aws.amazon.com/ena=vendor:1d0f,device:ec20,driver:vfio-pci
 *   example.com/nics=pci:0000:00:06.0,0000:00:07.0
 *   example.com/vf0_3=pf:ens1f0#0-3,driver:vfio-pci
 *   example.com/vdpa=vdpa:vhost
 * A token that does not start with a known key continues the previous key's values. Repeating a
 * resource name adds another selector object to that resource's list (first match wins).
 */
export interface ResourceArg {
  prefix: string;
  name: string;
  selector: DpSelector;
}

type ListKey = 'vendors' | 'devices' | 'drivers' | 'pciAddresses' | 'pfNames' | 'rootDevices' | 'linkTypes';
type Key = ListKey | 'vdpaType' | 'needVhostNet' | 'isRdma';

const KEYS: Record<string, Key> = {
  vendor: 'vendors', vendors: 'vendors',
  device: 'devices', devices: 'devices',
  driver: 'drivers', drivers: 'drivers',
  pci: 'pciAddresses', pciaddress: 'pciAddresses', pciaddresses: 'pciAddresses',
  pf: 'pfNames', pfname: 'pfNames', pfnames: 'pfNames',
  root: 'rootDevices', rootdevice: 'rootDevices', rootdevices: 'rootDevices',
  link: 'linkTypes', linktype: 'linkTypes', linktypes: 'linkTypes',
  vdpa: 'vdpaType', vdpatype: 'vdpaType',
  vhostnet: 'needVhostNet', 'vhost-net': 'needVhostNet', needvhostnet: 'needVhostNet',
  rdma: 'isRdma', isrdma: 'isRdma',
};

const RANGES = '(#\\d+(-\\d+)?(,\\d+(-\\d+)?)*)?';
const CHECKS: Record<ListKey, [RegExp, string]> = {
  vendors: [/^[0-9a-f]{4}$/, 'a 4-digit hex vendor ID, e.g. 8086, 15b3, 1d0f'],
  devices: [/^[0-9a-f]{4}$/, 'a 4-digit hex device ID, e.g. 154c, ec20'],
  drivers: [/^[a-z0-9_][a-z0-9_.-]{0,63}$/i, 'a driver name, e.g. vfio-pci'],
  pciAddresses: [/^.*$/, ''],
  pfNames: [new RegExp(`^[^\\s/#:,]{1,15}${RANGES}$`), 'a PF netdev name, optionally with VF ranges: ens1f0 or ens1f0#0,2-7'],
  rootDevices: [new RegExp(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\\.[0-7]${RANGES}$`), 'a PF PCI address, optionally with VF ranges: 0000:3b:00.0#0-3'],
  linkTypes: [/^[a-z0-9_]+$/, 'a link type, e.g. ether or infiniband'],
};
const PREFIX_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const NAME_RE = /^[a-zA-Z0-9_]+$/;

function bad(arg: string, why: string): Error {
  return failed(`--resource ${quote(arg)}: ${why}`);
}

export function parseResourceArg(arg: string): ResourceArg {
  const eq = arg.indexOf('=');
  if (eq < 0) throw bad(arg, 'expected <prefix>/<name>=<selector>, e.g. intel.com/dpdk=driver:vfio-pci');
  const full = arg.slice(0, eq);
  const spec = arg.slice(eq + 1);
  const slash = full.lastIndexOf('/');
  if (slash < 0) throw bad(arg, `the resource ${JSON.stringify(full)} needs a prefix: <prefix>/<name>, e.g. intel.com/dpdk`);
  const prefix = full.slice(0, slash);
  const name = full.slice(slash + 1);
  if (!PREFIX_RE.test(prefix)) throw bad(arg, `resource prefix ${JSON.stringify(prefix)} must be a DNS-style name such as intel.com`);
  if (!NAME_RE.test(name)) throw bad(arg, `resource name ${JSON.stringify(name)} may only contain letters, digits and "_" (the device plugin rejects anything else, hyphens included)`);

  const sel: DpSelector = {};
  if (spec.trim() === '') throw bad(arg, 'the selector is empty: name at least one of vendor:, device:, driver:, pci:, pf:, root:, link:, vdpa:');
  let current: ListKey | undefined;
  for (const tok of spec.split(',')) {
    const t = tok.trim();
    if (t === '') throw bad(arg, 'empty value (two commas in a row, or a trailing comma)');
    const m = /^([A-Za-z][A-Za-z-]*)(?::(.*))?$/.exec(t);
    const key = m ? KEYS[(m[1] ?? '').toLowerCase()] : undefined;
    if (m && key) {
      const value = m[2];
      if (key === 'needVhostNet' || key === 'isRdma') {
        if (value !== undefined && value !== 'true' && value !== 'false') throw bad(arg, `${m[1]} takes no value, or true/false`);
        (sel as Record<string, unknown>)[key] = value !== 'false';
        current = undefined;
        continue;
      }
      if (value === undefined || value === '') throw bad(arg, `${m[1]} needs a value: ${m[1]}:<value>`);
      if (key === 'vdpaType') {
        if (value !== 'vhost' && value !== 'virtio') throw bad(arg, `vdpa must be vhost or virtio, not ${JSON.stringify(value)}`);
        if (sel.vdpaType) throw bad(arg, 'vdpa is given twice');
        sel.vdpaType = value;
        current = undefined;
        continue;
      }
      const listKey = key as ListKey;
      current = listKey;
      add(arg, sel, listKey, value);
      continue;
    }
    if (!current) {
      throw bad(arg, `${JSON.stringify(t)} is not a selector: use vendor:, device:, driver:, pci:, pf:, root:, link:, vdpa:, vhostnet or rdma`);
    }
    const list = sel[current] as string[];
    const last = list[list.length - 1] ?? '';
    if ((current === 'pfNames' || current === 'rootDevices') && last.includes('#') && /^\d+(-\d+)?$/.test(t)) {
      list[list.length - 1] = `${last},${t}`;
      continue;
    }
    add(arg, sel, current, t);
  }
  if (Object.keys(sel).length === 0) throw bad(arg, 'the selector is empty: name at least one of vendor:, device:, driver:, pci:, pf:, root:, link:, vdpa:');
  if (sel.isRdma && sel.vdpaType) throw bad(arg, 'rdma and vdpa cannot be combined (the device plugin rejects isRdma with vdpaType)');
  return { prefix, name, selector: sel };
}

function add(arg: string, sel: DpSelector, key: ListKey, raw: string): void {
  const v = key === 'pfNames' || key === 'drivers' ? raw : raw.toLowerCase();
  if (key === 'pciAddresses') {
    if (!isBdf(v)) throw bad(arg, `${quote(raw)} is not a full PCI address (dddd:bb:dd.f, e.g. 0000:00:06.0)`);
  } else {
    const [re, what] = CHECKS[key];
    if (!re.test(v)) throw bad(arg, `${quote(raw)} is not ${what}`);
  }
  const list = (sel[key] ??= []);
  if (!list.includes(v)) list.push(v);
}
