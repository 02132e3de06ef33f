import * as z from 'zod/mini';
import { isBdf } from '../../device/pci.js';

/**
 * The node file of `dpdk-cni node apply -f FILE` (docs/node-file.md): JSON describing the node
 * wanted. Unknown fields are violations (a typo must not silently do nothing). parseNodeFile
 * returns the file or every violation, each as "<path>: <what is wrong>".
 */
const DRIVER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const NETDEV = /^[^\s/:]{1,15}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const VD = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/;
const RANGE = /^\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*$/;
const VDPA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const PREFIX = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const RESOURCE = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9_]+$/;

const str = (re: RegExp, what: string) => z.string().check(z.regex(re, what));
const pfRef = z.string().check(z.refine((s) => isBdf(s) || (NETDEV.test(s) && s !== '.' && s !== '..'), 'a PF netdev name (ens1f0) or PCI address (0000:3b:00.0)'));

const vfCount = z.strictObject({ pf: pfRef, count: z.number().check(z.int(), z.gte(0), z.lte(4096)) });

const driverRule = z.strictObject({
  driver: str(DRIVER, 'a driver name (vfio-pci, igb_uio, uio_pci_generic, a kernel driver) or "kernel"'),
  pci: z.optional(z.array(z.string().check(z.refine(isBdf, 'a full PCI address: 0000:00:06.0'))).check(z.minLength(1))),
  vendorDevice: z.optional(z.array(str(VD, 'vendor:device in hex, e.g. 1d0f:ec20')).check(z.minLength(1))),
  pf: z.optional(pfRef),
  vfs: z.optional(str(RANGE, 'VF indexes and ranges, e.g. 0-3 or 0,2,4-7')),
  mac: z.optional(z.array(str(MAC, 'a MAC address, e.g. 02:00:00:00:00:01')).check(z.minLength(1))),
});

const vdpaDev = z.strictObject({
  name: str(VDPA_NAME, 'a vDPA device name: letters, digits, "_", "-", "." (at most 32)'),
  mgmtdev: z.string().check(z.refine((s) => /^pci\//.test(s) && isBdf(s.slice(4)), 'pci/<PCI address>, as "vdpa mgmtdev show" names it')),
  driver: z.enum(['vhost_vdpa', 'virtio_vdpa']),
  mac: z.optional(str(MAC, 'a MAC address')),
});

const selector = z.looseObject({});
const resource = z.looseObject({
  resourceName: str(RESOURCE, 'a resource name (intel_sriov_dpdk) or <prefix>/<name> (intel.com/intel_sriov_dpdk)'),
  resourcePrefix: z.optional(str(PREFIX, 'a resource prefix: a DNS name such as intel.com (Kubernetes takes <prefix>/<name>)')),
  deviceType: z.optional(z.string()),
  selectors: z.optional(z.union([selector, z.array(selector)])),
});

const nodeFile = z.strictObject({
  noIommu: z.optional(z.boolean()),
  vfs: z.optional(z.array(vfCount)),
  drivers: z.optional(z.array(driverRule)),
  vdpa: z.optional(z.array(vdpaDev)),
  devicePlugin: z.optional(
    z.strictObject({
      file: z.optional(z.string().check(z.refine((s) => s.startsWith('/'), 'an absolute path'))),
      resourceList: z.array(resource),
    }),
  ),
});

export type NodeFile = z.infer<typeof nodeFile>;
export type DriverRule = z.infer<typeof driverRule>;
export type VdpaWanted = z.infer<typeof vdpaDev>;

/** VF indexes of a range like "0,2,4-7", sorted, without repeats; undefined when a range runs backwards. */
export function indexes(range: string): number[] | undefined {
  const out = new Set<number>();
  for (const part of range.split(',')) {
    const [a, b = a] = part.split('-').map(Number) as [number, number?];
    if (b < a) return undefined;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** The selector kind of a driver rule, for messages. */
export function selectorText(r: DriverRule): string {
  if (r.pci) return `pci ${r.pci.join(', ')}`;
  if (r.vendorDevice) return `vendorDevice ${r.vendorDevice.join(', ')}`;
  if (r.pf) return `VF${r.vfs ? `s ${r.vfs}` : 's'} of ${r.pf}`;
  return `mac ${(r.mac ?? []).join(', ')}`;
}

/** Rules zod cannot say in one field: one selector per driver rule, no repeats. */
function crossChecks(f: NodeFile): string[] {
  const v: string[] = [];
  // also run on a file that failed the schema: a part with the wrong shape is skipped, not thrown on
  const each = <T>(list: T[] | undefined, fn: (x: T, i: number) => void) => {
    if (!Array.isArray(list)) return;
    list.forEach((x, i) => {
      try {
        fn(x, i);
      } catch {
        /* reported by the schema */
      }
    });
  };
  const keysOf = <T>(list: T[] | undefined, key: (x: T) => string): string[] => {
    const out: string[] = [];
    each(list, (x) => out.push(key(x)));
    return out;
  };
  each(f.drivers, (r, i) => {
    const kinds = [r.pci, r.vendorDevice, r.pf, r.mac].filter((x) => x !== undefined).length;
    if (kinds !== 1) v.push(`drivers.${i}: give exactly one of pci, vendorDevice, pf (with vfs) or mac`);
    if (r.vfs !== undefined && r.pf === undefined) v.push(`drivers.${i}.vfs: needs pf`);
    if (r.vfs !== undefined && RANGE.test(r.vfs) && !indexes(r.vfs)) v.push(`drivers.${i}.vfs: a range runs backwards in ${JSON.stringify(r.vfs)}`);
  });
  const dup = (what: string, keys: string[]) => {
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      if (seen.has(k)) v.push(`${what}.${i}: ${JSON.stringify(k)} is given twice`);
      seen.add(k);
    });
  };
  dup('vfs', keysOf(f.vfs, (x) => x.pf.toLowerCase()));
  dup('vdpa', keysOf(f.vdpa, (x) => x.name));
  const rl = f.devicePlugin?.resourceList;
  each(rl, (r, i) => {
    if (r.resourcePrefix !== undefined && r.resourceName.includes('/')) v.push(`devicePlugin.resourceList.${i}: give the prefix either in resourcePrefix or in resourceName, not both`);
  });
  dup('devicePlugin.resourceList', keysOf(rl, (r) => fullResourceName(r)));
  return v;
}

/** prefix/name of a resource of the node file (the device plugin's default prefix is intel.com). */
export function fullResourceName(r: { resourceName: string; resourcePrefix?: string | undefined }): string {
  if (r.resourceName.includes('/')) return r.resourceName;
  return `${r.resourcePrefix ?? 'intel.com'}/${r.resourceName}`;
}

interface Issue {
  code: string;
  message: string;
  input?: unknown;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  origin?: string;
}

/** zod/mini carries no messages (only "Invalid input"): say what was expected. */
function issueText(i: Issue): string {
  switch (i.code) {
    case 'unrecognized_keys':
      return `unknown field${(i.keys ?? []).length > 1 ? 's' : ''} ${(i.keys ?? []).map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_type':
      return i.input === undefined ? `missing (${i.expected} expected)` : `${i.expected} expected`;
    case 'invalid_value':
      return `one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(', ')} expected`;
    case 'too_small':
      return i.origin === 'array' ? `at least ${i.minimum} entry expected` : `at least ${i.minimum} expected`;
    case 'too_big':
      return `at most ${i.maximum} expected`;
    case 'invalid_union':
      return 'a selector object or a list of them expected';
    default:
      return i.message === 'Invalid input' && i.code === 'invalid_format' ? 'wrong format' : i.message;
  }
}

export function parseNodeFile(text: string): { file: NodeFile } | { violations: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { violations: [`not valid JSON: ${(e as Error).message}`] };
  }
  const r = nodeFile.safeParse(raw, { reportInput: true });
  if (!r.success) {
    // every violation at once: the cross-field rules too, on what of the file has the right shape
    const cross = raw !== null && typeof raw === 'object' ? crossChecks(raw as NodeFile) : [];
    return { violations: [...r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${issueText(i as unknown as Issue)}`), ...cross] };
  }
  const v = crossChecks(r.data);
  return v.length > 0 ? { violations: v } : { file: r.data };
}
