import * as z from 'zod/mini';
import type { Host } from '../../sys/host.js';
import { isNetworkClass, readDevice, type NodeDevice } from '../../device/scan.js';
import { candidates, matches, overlaps, pools } from './match.js';
import { hostUseReasons, netdevUsage } from '../../net/usage.js';
import { ipJson } from '../../net/iproute.js';
import { fullName, selectorList, type DpConfig, type DpSelector } from './types.js';
import type { Level } from '../shared/verdict.js';

/** One finding of the validation of a device plugin config against this node. */
export interface Finding {
  level: Level;
  resource?: string;
  message: string;
  fix?: string;
}

const strList = z.array(z.string());
const selectorSchema = z.looseObject({
  vendors: z.optional(strList),
  devices: z.optional(strList),
  drivers: z.optional(strList),
  pciAddresses: z.optional(strList),
  pfNames: z.optional(strList),
  rootDevices: z.optional(strList),
  linkTypes: z.optional(strList),
  vdpaType: z.optional(z.enum(['vhost', 'virtio'])),
  needVhostNet: z.optional(z.boolean()),
  isRdma: z.optional(z.boolean()),
});
const resourceSchema = z.looseObject({
  resourcePrefix: z.optional(z.string()),
  resourceName: z.string(),
  deviceType: z.optional(z.string()),
  selectors: z.optional(z.union([selectorSchema, z.array(selectorSchema)])),
});
const configSchema = z.looseObject({ resourceList: z.array(resourceSchema) });

const KNOWN = new Set(['vendors', 'devices', 'drivers', 'pciAddresses', 'pfNames', 'rootDevices', 'linkTypes', 'vdpaType', 'needVhostNet', 'isRdma']);
const ORDER: Array<keyof DpSelector> = ['vendors', 'devices', 'drivers', 'pciAddresses', 'pfNames', 'rootDevices', 'linkTypes', 'vdpaType', 'isRdma'];

export function parseConfig(text: string): { config?: DpConfig; error?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    return { error: `not a device plugin config: ${i ? `${i.path.join('.') || '(top)'}: ${i.message}` : 'invalid'} (expected {"resourceList":[{"resourceName":..,"selectors":[{..}]}]})` };
  }
  return { config: r.data as unknown as DpConfig };
}

function list(ds: NodeDevice[]): string {
  return ds.map((d) => d.pci).join(', ');
}

/** Why a selector object picks nothing: apply its selectors in order, name the one that empties the set. */
function whyEmpty(host: Host, s: DpSelector, devs: NodeDevice[]): { message: string; fix?: string } {
  let left = devs;
  const applied: DpSelector = {};
  for (const k of ORDER) {
    if (s[k] === undefined) continue;
    (applied as Record<string, unknown>)[k] = s[k];
    const next = left.filter((d) => matches(host, d, applied));
    if (next.length === 0) {
      const what = `${k} ${JSON.stringify(s[k])}`;
      if (left.length === 0) return { message: 'no network device on this node' };
      if (k === 'drivers') {
        const drv = s.drivers?.[0] ?? 'vfio-pci';
        return {
          message: `${left.length} device(s) match up to ${what}, but they are on ${[...new Set(left.map((d) => d.driver ?? 'no driver'))].join(', ')}`,
          fix: `dpdk-cni bind ${list(left).replace(/, /g, ' ')} --driver ${drv}`,
        };
      }
      if (k === 'vdpaType') {
        return { message: `none of ${list(left)} has a ${s.vdpaType} vDPA device`, fix: `create one: vdpa dev add name vdpa0 mgmtdev pci/${left[0]?.pci}; bind it to ${s.vdpaType}_vdpa` };
      }
      return { message: `${what} matches none of ${list(left)}` };
    }
    left = next;
  }
  return { message: 'no device matches' };
}

/** Check a parsed config against the node's devices. */
export function checkConfig(host: Host, conf: DpConfig): Finding[] {
  const out: Finding[] = [];
  const devs = candidates(host);
  const names = new Map<string, number>();
  for (const r of conf.resourceList) names.set(fullName(r), (names.get(fullName(r)) ?? 0) + 1);
  for (const [n, c] of names) {
    if (c > 1) out.push({ level: 'fail', resource: n, message: `${n} is defined ${c} times; the device plugin needs unique names`, fix: 'merge them into one resource with a list of selector objects' });
  }
  const ps = pools(host, conf, devs);
  let links: unknown[] | undefined;
  conf.resourceList.forEach((r, ri) => {
    const name = fullName(r);
    const pool = ps[ri];
    if (!/^[a-zA-Z0-9_]+$/.test(r.resourceName)) {
      out.push({ level: 'fail', resource: name, message: `resourceName ${JSON.stringify(r.resourceName)} may only contain letters, digits and "_"` });
    }
    if (r.deviceType && r.deviceType !== 'netDevice') {
      out.push({ level: 'warn', resource: name, message: `deviceType ${r.deviceType} is not checked by dpdk-cni (only netDevice)` });
      return;
    }
    selectorList(r).forEach((s, si) => {
      const unknown = Object.keys(s).filter((k) => !KNOWN.has(k));
      if (unknown.length > 0) out.push({ level: 'warn', resource: name, message: `selector ${si + 1}: ${unknown.join(', ')} not checked by dpdk-cni` });
      for (const a of s.pciAddresses ?? []) {
        const d = readDevice(host, a.toLowerCase());
        if (!d) {
          out.push({ level: 'fail', resource: name, message: `pciAddresses: ${a} does not exist on this node`, fix: 'remove it, or fix the address (dpdk-cni bind --status lists the network devices)' });
        } else if (!isNetworkClass(d.pciClass)) {
          out.push({ level: 'fail', resource: name, message: `pciAddresses: ${a} is not a network device (class ${d.pciClass ?? '?'})` });
        } else if (d.numVfs) {
          out.push({ level: 'fail', resource: name, message: `pciAddresses: ${a} is a PF with ${d.numVfs} VFs; the device plugin skips such PFs`, fix: 'select its VFs instead (pfNames / rootDevices)' });
        } else if (s.drivers && !s.drivers.includes(d.driver ?? '')) {
          out.push({
            level: 'fail', resource: name,
            message: `pciAddresses: ${a} is on ${d.driver ?? 'no driver'}, the selector wants drivers ${JSON.stringify(s.drivers)}`,
            fix: `dpdk-cni bind ${a} --driver ${s.drivers[0]}`,
          });
        }
      }
      if (s.needVhostNet) {
        const missing = ['/dev/vhost-net', '/dev/net/tun'].filter((p) => !host.fs.exists(host.p(p)));
        if (missing.length > 0) out.push({ level: 'warn', resource: name, message: `needVhostNet: ${missing.join(', ')} missing on this node`, fix: 'modprobe vhost_net tun' });
      }
      if (pool && (pool.perSelector[si]?.length ?? 0) === 0) {
        const w = whyEmpty(host, s, devs);
        const f: Finding = { level: 'fail', resource: name, message: `selector ${si + 1} ${JSON.stringify(s)} selects no device: ${w.message}` };
        if (w.fix) f.fix = w.fix;
        out.push(f);
      }
    });
    for (const d of pool?.devices ?? []) {
      if (!d.netdev) continue;
      const why = hostUseReasons(d.netdev, netdevUsage(host, d.netdev, (links ??= ipJson(host, ['-d', 'addr', 'show']) ?? [])));
      if (why.length > 0) {
        out.push({
          level: 'fail', resource: name,
          message: `${d.pci} (${d.netdev}) is in use by the host: ${why.join('; ')}; the device plugin would hand it to pods, and CNI ADD refuses it (code 111)`,
          fix: `narrow the selector so it leaves ${d.pci} out (e.g. pci: or driver:), or take ${d.netdev} out of use`,
        });
      }
    }
    if (pool && pool.devices.length > 0) {
      out.push({ level: 'pass', resource: name, message: `${name}: ${pool.devices.length} device(s): ${pool.devices.map((d) => `${d.pci} (${d.driver ?? 'no driver'})`).join(', ')}` });
    }
  });
  for (const o of overlaps(ps)) {
    out.push({ level: 'warn', message: `${o.pci} is selected by ${o.resources.join(' and ')}: the device plugin would offer it in both pools`, fix: 'narrow the selectors (e.g. with pci: or driver:)' });
  }
  return out;
}

