import { networkDevices, netdevFacts, readFunction, type NodeDevice } from '../../device/scan.js';
import { readAttr } from '../../device/sysfs.js';
import { lastKnown } from '../../state/last-known.js';
import type { Host } from '../../sys/host.js';
import { executeBind, parseTarget, planBind, targetText, writeText, type BindPlan, type Target } from '../bind/bind.js';
import { ToolError } from '../shared/errors.js';
import { withDeviceLocks } from './locks.js';
import { indexes, selectorText, type DriverRule, type NodeFile } from './schema.js';
import { unchanged, type Step } from './step.js';
import { findPf, futureVf, vfLinks, vfsStepFate } from './vfs.js';

/** A device a rule chose, and whether it exists yet (a VF the vfs step makes does not). */
export interface Chosen {
  pci: string;
  target: Target;
  rule: number;
  exists: boolean;
}

/** The devices each driver rule chooses on this node; problems are violations of the file on this node. */
export function chooseDevices(host: Host, f: NodeFile): { chosen: Chosen[]; problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const byPci = new Map<string, Chosen>();
  let devs: NodeDevice[] | undefined;
  const all = () => (devs ??= networkDevices(host));
  let hits = 0;
  const add = (pci: string, target: Target, rule: number, exists: boolean) => {
    hits++;
    const prev = byPci.get(pci);
    if (prev && targetText(prev.target) !== targetText(target)) {
      problems.push(`drivers.${rule}: ${pci} is also chosen by drivers.${prev.rule}, for ${targetText(prev.target)}, not ${targetText(target)}`);
      return;
    }
    if (!prev) byPci.set(pci, { pci, target, rule, exists });
  };
  /**
   * A device that is there now: a VF the vfs step re-creates is bound once it is back (chosen by
   * its address), an error when the vfs step removes it or when it is chosen by MAC (a new VF
   * does not have the old one's MAC); vendorDevice simply does not choose a VF that goes.
   */
  const grown = new Set<string>();
  const addExisting = (pci: string, target: Target, rule: number, by: 'pci' | 'vendorDevice' | 'mac') => {
    // a VF the vfs step destroys: its PF's count changes (the kernel takes a new count only from
    // 0, so every VF goes and the first `count` come back new, on their default driver)
    const re = vfsStepFate(host, f.vfs, pci);
    if (!re?.now) return add(pci, target, rule, true);
    if (by === 'mac') problems.push(`drivers.${rule}: ${pci} is VF ${re.index} of ${re.pf}, whose VFs vfs.${re.rule} re-creates: a new VF does not keep the old one's MAC; choose it with "pf" and "vfs"`);
    else if (re.index < re.count) {
      add(pci, target, rule, false);
      // the VFs the new count adds are the same vendor:device: chosen too, or the next apply would
      if (by === 'vendorDevice' && !grown.has(`${rule}@${re.ref.dir}`)) {
        grown.add(`${rule}@${re.ref.dir}`);
        for (let n = re.have; n < re.count; n++) {
          const future = futureVf(host, re.ref, n);
          if (future) add(future, target, rule, false);
        }
      }
    }
    else if (by === 'pci') problems.push(`drivers.${rule}: ${pci} is VF ${re.index} of ${re.pf}, which vfs.${re.rule} removes (${re.pf} will have ${re.count} VF(s))`);
  };
  (f.drivers ?? []).forEach((r: DriverRule, i) => {
    const target = r.driver === 'kernel' ? ({ kind: 'kernel' } as const) : parseTarget(r.driver);
    const before = hits;
    if (r.pci) {
      for (const raw of r.pci) {
        const pci = raw.toLowerCase();
        if (readFunction(host, pci)) addExisting(pci, target, i, 'pci');
        // a VF the vfs step makes (at boot there are none yet): bound once it is there
        else if (vfsStepFate(host, f.vfs, pci)?.fate === 'made') add(pci, target, i, false);
        else problems.push(`drivers.${i}: no PCI device ${pci} on this node`);
      }
    } else if (r.vendorDevice) {
      const want = new Set(r.vendorDevice.map((v) => v.toLowerCase()));
      for (const d of all()) if (want.has(`${d.vendor}:${d.device}`)) addExisting(d.pci, target, i, 'vendorDevice');
      // VFs the vfs step makes, by the vendor:device they will have (the PF's sriov_vf_device)
      for (const v of f.vfs ?? []) {
        const pf = findPf(host, v.pf);
        if (!pf?.pci || v.count === vfLinks(host, pf).size) continue;
        const vendor = readAttr(host, host.p(`${pf.dir}/vendor`))?.replace(/^0x/, '');
        const device = readAttr(host, host.p(`${pf.dir}/sriov_vf_device`))?.replace(/^0x/, '');
        if (!vendor || !device || !want.has(`${vendor}:${device}`.toLowerCase())) continue;
        for (let n = 0; n < v.count; n++) {
          const future = futureVf(host, pf, n);
          if (future) add(future, target, i, false);
        }
      }
    } else if (r.pf) {
      const pf = findPf(host, r.pf);
      if (!pf?.pci) {
        problems.push(`drivers.${i}: no SR-IOV PF ${r.pf} with PCI VFs on this node`);
        return;
      }
      const have = vfLinks(host, pf);
      // the vfs entry of the same PF, however each names it (netdev name or PCI address)
      const planned = f.vfs?.find((v) => findPf(host, v.pf)?.dir === pf.dir)?.count;
      const count = planned ?? have.size;
      const want = r.vfs ? (indexes(r.vfs) ?? []) : [...Array(count).keys()];
      for (const n of want) {
        if (n >= count) {
          problems.push(`drivers.${i}: ${r.pf} has ${count} VF(s)${planned !== undefined ? ' (as vfs asks)' : ''}: there is no VF ${n}`);
          continue;
        }
        const pci = have.get(n) ?? futureVf(host, pf, n);
        if (!pci) problems.push(`drivers.${i}: the address VF ${n} of ${r.pf} will have cannot be told (no sriov_offset/sriov_stride)`);
        else add(pci, target, i, have.has(n) && (planned === undefined || planned === have.size));
      }
    } else if (r.mac) {
      const want = new Set(r.mac.map((m) => m.toLowerCase()));
      for (const d of all()) {
        // a device already on vfio-pci has no netdev: the MAC bind recorded before it went
        const mac = d.netdev ? netdevFacts(host, d.pci, d.netdev).mac : lastKnown(host, d.pci)?.mac;
        if (mac && want.has(mac.toLowerCase())) addExisting(d.pci, target, i, 'mac');
      }
    }
    if (hits === before && problems.length === 0) notes.push(`drivers.${i} (${selectorText(r)}) chooses no device on this node`);
  });
  return { chosen: [...byPci.values()].sort((a, b) => a.pci.localeCompare(b.pci)), problems, notes };
}

function planText(p: BindPlan): string[] {
  return [...(p.modprobe ? [`modprobe ${p.modprobe}`] : []), ...p.writes.map((w) => writeText(w, 'write'))];
}

/**
 * bind's refusal ends "…, or pass --force": node apply has no --force (docs/node-file.md), so the
 * operator is told the override that exists, `dpdk-cni bind --force`, by hand.
 */
function withoutForce(e: unknown, c: Chosen): unknown {
  if (!(e instanceof ToolError) || !e.message.endsWith(', or pass --force')) return e;
  const driver = c.target.kind === 'driver' ? c.target.name : 'kernel';
  return new ToolError(e.kind, `${e.message.slice(0, -', or pass --force'.length)}. node apply has no --force: to override, rebind it by hand with "dpdk-cni bind ${c.pci} --driver ${driver} --force"`);
}

/** A fix an earlier step of the same apply makes (no-IOMMU mode, the VFs): checked again when the step runs. */
function laterFixable(e: unknown, f: NodeFile): boolean {
  return e instanceof ToolError && e.kind === 'error' && f.noIommu === true && /no-IOMMU mode is off/.test(e.message);
}

/**
 * One step per chosen device: the same plan, safety checks and sysfs writes as `dpdk-cni bind`
 * (never --force: a device the host or a live pod uses is refused), run under the device's lock
 * and planned again under it.
 */
export function planDriver(host: Host, f: NodeFile, c: Chosen, timeoutMs: number): Step {
  const id = `driver:${c.pci}`;
  const what = `${c.pci} on ${targetText(c.target)}`;
  let actions = [`bind ${c.pci} to ${targetText(c.target)} once it exists`];
  if (c.exists) {
    try {
      const p = planBind(host, c.pci, c.target, { force: false });
      if (p.unchanged) return unchanged(id, what, p.notes);
      actions = planText(p);
    } catch (e) {
      if (!laterFixable(e, f)) throw withoutForce(e, c);
      actions = [`bind ${c.pci} to ${targetText(c.target)} after no-IOMMU mode is on`];
    }
  }
  return {
    id, what, unchanged: false, notes: [], actions,
    run: () =>
      withDeviceLocks(host, [c.pci], async () => {
        let p: BindPlan;
        try {
          p = planBind(host, c.pci, c.target, { force: false });
        } catch (e) {
          throw withoutForce(e, c);
        }
        if (p.unchanged) return [`${c.pci} is already on ${targetText(c.target)}`];
        try {
          const o = await executeBind(host, p, timeoutMs);
          return [...o.done, ...o.notes.map((n) => `note: ${n}`)];
        } catch (e) {
          const done = p.done.length > 0 ? ` (done: ${p.done.join('; ')})` : '';
          throw e instanceof ToolError ? new ToolError(e.kind, `${e.message}${done}`) : e;
        }
      }),
  };
}
