import { bdfAt, isBdf, routingId } from '../../device/pci.js';
import { readInt, vfsOf } from '../../device/sysfs.js';
import { vfHostUseReasons, vfsUsedByHost } from '../../net/usage.js';
import { vfsInUse, vfUseReasons } from '../../state/vf-use.js';
import type { Host } from '../../sys/host.js';
import { failed, refused } from '../shared/errors.js';
import { vfHolderReasons } from '../shared/vf-holders.js';
import { withDeviceLocks } from './locks.js';
import { unchanged, type Step } from './step.js';

/** A PF as the node file names it: its sysfs device directory (PCI function or e.g. netdevsim) and PCI address when it has one. */
export interface PfRef {
  name: string;
  /** kernel path of the device directory (without DPDK_CNI_ROOT) */
  dir: string;
  pci?: string;
}

export function findPf(host: Host, name: string): PfRef | undefined {
  if (isBdf(name)) {
    const pci = name.toLowerCase();
    const dir = `/sys/bus/pci/devices/${pci}`;
    return host.fs.exists(host.p(dir)) ? { name, dir, pci } : undefined;
  }
  // the netdev's device: its `device` link, else the directory its net/<name> lies in
  const self = host.fs.realpath(host.p(`/sys/class/net/${name}`));
  const real = host.fs.realpath(host.p(`/sys/class/net/${name}/device`)) ?? (self?.endsWith(`/net/${name}`) ? self.slice(0, -`/net/${name}`.length) : undefined);
  if (!real) return undefined;
  const dir = real.slice(host.root.length);
  const base = dir.slice(dir.lastIndexOf('/') + 1);
  return isBdf(base) ? { name, dir: `/sys/bus/pci/devices/${base}`, pci: base } : { name, dir };
}

/** VF PCI addresses of a PF from its virtfnN links (index → address). */
export function vfLinks(host: Host, pf: PfRef): Map<number, string> {
  return vfsOf(host, host.p(pf.dir));
}

/** The address VF `i` will have (PCI SR-IOV: PF routing ID + offset + i * stride). */
export function futureVf(host: Host, pf: PfRef, i: number): string | undefined {
  if (!pf.pci) return undefined;
  const offset = readInt(host, host.p(`${pf.dir}/sriov_offset`));
  const stride = readInt(host, host.p(`${pf.dir}/sriov_stride`));
  if (offset === undefined || stride === undefined) return undefined;
  return bdfAt(pf.pci, routingId(pf.pci) + offset + stride * i);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * sriov_numvfs of a PF. The kernel takes a new count only from 0, so a change from N > 0 writes 0
 * first, which destroys every VF: refused when a VF is in a pod, carries the host's addresses, or
 * is held open by a DPDK application or VM (its /dev/vfio group or /dev/uioN).
 */
export function planVfs(host: Host, name: string, count: number, timeoutMs: number, at = 'vfs'): Step {
  const id = `vfs:${name}`;
  const what = `${count} VF(s) on ${name}`;
  const pf = findPf(host, name);
  if (!pf) throw failed(`${at}: no PF ${name} on this node (neither a PCI address in /sys/bus/pci/devices nor a netdev in /sys/class/net)`);
  const attr = `${pf.dir}/sriov_numvfs`;
  const cur = readInt(host, host.p(attr));
  if (cur === undefined) throw failed(`${at}: ${name} is not SR-IOV capable (no ${attr})`);
  const total = readInt(host, host.p(`${pf.dir}/sriov_totalvfs`));
  if (total !== undefined && count > total) throw failed(`${at}: ${name} supports at most ${total} VFs (sriov_totalvfs), not ${count}`);
  if (cur === count) return unchanged(id, what);
  if (cur > 0 && pf.pci) {
    const why = [...vfUseReasons(pf.pci, vfsInUse(host, pf.pci)), ...vfHostUseReasons(pf.pci, vfsUsedByHost(host, pf.pci)), ...vfHolderReasons(host, pf.pci)];
    if (why.length > 0) throw refused(`${at}: changing ${name} from ${cur} to ${count} VFs destroys its VFs first: ${why.join('; ')}. Move those VFs' users away first`);
  }
  const writes = [...(cur > 0 ? ['0'] : []), ...(count > 0 ? [String(count)] : [])];
  return {
    id, what: `${what} (now ${cur})`, unchanged: false, notes: [],
    actions: writes.map((w) => `write "${w}" to ${attr}`),
    // the PF and its VFs stay locked from the second look to the end: no ADD takes a VF meanwhile
    run: () => withDeviceLocks(host, pf.pci ? [pf.pci, ...vfLinks(host, pf).values()] : [], async () => {
      if (cur > 0 && pf.pci) {
        const why = [...vfUseReasons(pf.pci, vfsInUse(host, pf.pci)), ...vfHostUseReasons(pf.pci, vfsUsedByHost(host, pf.pci)), ...vfHolderReasons(host, pf.pci)];
        if (why.length > 0) throw refused(`${at}: changing ${name} from ${cur} to ${count} VFs destroys its VFs first: ${why.join('; ')}. Nothing was written`);
      }
      if (readInt(host, host.p(attr)) !== cur) throw failed(`${at}: ${name}'s VF count changed while apply ran (now ${readInt(host, host.p(attr))}); nothing was written: run apply again`);
      const done: string[] = [];
      for (const w of writes) {
        try {
          host.fs.writeAttr(host.p(attr), w);
        } catch (e) {
          throw failed(`writing "${w}" to ${attr} failed: ${(e as Error).message}${done.length > 0 ? ` (after ${done.join(', ')}: ${name} has no VFs now)` : ''}. Check "dmesg | tail"`);
        }
        done.push(`wrote "${w}" to ${attr}`);
      }
      if (!pf.pci) return done; // not PCI (netdevsim): no virtfn links to wait for
      const deadline = Date.now() + timeoutMs;
      while (vfLinks(host, pf).size !== count && Date.now() < deadline) await sleep(50);
      const n = vfLinks(host, pf).size;
      if (n !== count) {
        const sim = host.root ? ` — DPDK_CNI_ROOT=${host.root} is a simulated node, where no kernel makes VFs` : '';
        throw failed(`${done.join(', ')}, but ${name} shows ${n} VF(s), not ${count}, within ${timeoutMs} ms${sim}`);
      }
      return done;
    }),
  };
}

/**
 * What the vfs step of the same file does to a PCI address: `made` when it will be a VF of a PF
 * whose count changes (every VF goes, the first `count` come back new), `removed` when it is a VF
 * the new count leaves out; undefined when the vfs step does not touch it. `now`: the address is a
 * VF today (re-created or removed) rather than one the new count adds; `have`: the PF's count today.
 */
export interface VfFate {
  fate: 'made' | 'removed';
  /** the PF as the node file names it, and as found */
  pf: string;
  ref: PfRef;
  index: number;
  now: boolean;
  have: number;
  count: number;
  /** the index of the vfs rule */
  rule: number;
}

export function vfsStepFate(host: Host, vfs: ReadonlyArray<{ pf: string; count: number }> | undefined, pci: string): VfFate | undefined {
  for (const [rule, v] of (vfs ?? []).entries()) {
    const ref = findPf(host, v.pf);
    if (!ref?.pci) continue;
    const have = vfLinks(host, ref);
    if (have.size === v.count) continue;
    const base = { pf: v.pf, ref, have: have.size, count: v.count, rule };
    const index = [...have].find(([, a]) => a === pci)?.[0];
    if (index !== undefined) return { ...base, fate: index < v.count ? 'made' : 'removed', index, now: true };
    for (let n = 0; n < v.count; n++) if (futureVf(host, ref, n) === pci) return { ...base, fate: 'made', index: n, now: false };
  }
  return undefined;
}
