import type { Host } from '../../sys/host.js';
import { ToolError } from '../shared/errors.js';
import { planDevicePlugin } from './device-plugin.js';
import { chooseDevices, planDriver } from './drivers.js';
import { planNoIommu } from './noiommu.js';
import { isUserspaceDriver } from '../../device/scan.js';
import { targetText } from '../bind/bind.js';
import type { NodeFile } from './schema.js';
import type { Step } from './step.js';
import { planVdpa } from './vdpa.js';
import { findPf, planVfs } from './vfs.js';

/**
 * The whole apply, planned before anything changes: no-IOMMU mode, VF counts, drivers, vDPA
 * devices, the device plugin config — in that order (VFs exist before they are bound, a vDPA
 * parent is on its driver before its device is made). Every problem is collected: `refusals`
 * (a device the host or a pod uses: exit 1) and `problems` (the file cannot be applied to this
 * node: exit 2); with any of them, nothing is run.
 */
export interface Plan {
  steps: Step[];
  refusals: string[];
  problems: string[];
  notes: string[];
}

export function planApply(host: Host, f: NodeFile, timeoutMs: number): Plan {
  const plan: Plan = { steps: [], refusals: [], problems: [], notes: [] };
  const attempt = (fn: () => Step) => {
    try {
      plan.steps.push(fn());
    } catch (e) {
      (e instanceof ToolError && e.kind === 'refused' ? plan.refusals : plan.problems).push((e as Error).message);
    }
  };
  if (f.noIommu !== undefined) attempt(() => planNoIommu(host, f.noIommu as boolean));
  // one PF named twice (its netdev name and its PCI address): two counts, each apply writing both
  const seen = new Map<string, number>();
  (f.vfs ?? []).forEach((v, i) => {
    const dir = findPf(host, v.pf)?.dir;
    const j = dir === undefined ? undefined : seen.get(dir);
    if (j !== undefined) plan.problems.push(`vfs.${i}: ${v.pf} is the PF vfs.${j} names (${f.vfs![j]!.pf}): give each PF once`);
    else if (dir !== undefined) seen.set(dir, i);
  });
  for (const [i, v] of (f.vfs ?? []).entries()) attempt(() => planVfs(host, v.pf, v.count, timeoutMs, `vfs.${i}`));
  const chosen = chooseDevices(host, f);
  plan.problems.push(...chosen.problems);
  plan.notes.push(...chosen.notes);
  for (const c of chosen.chosen) attempt(() => planDriver(host, f, c, timeoutMs));
  // a PF's VFs go with its driver: a file that rebinds a PF and wants VFs on it contradicts itself
  const rebinds = new Map(chosen.chosen.map((c) => [c.pci, c]));
  for (const c of chosen.chosen) {
    const step = plan.steps.find((s) => s.id === `driver:${c.pci}`);
    if (!step || step.unchanged) continue;
    const dir = `/sys/bus/pci/devices/${c.pci}`;
    const j = (f.vfs ?? []).findIndex((v) => v.count > 0 && findPf(host, v.pf)?.dir === dir);
    const vf = chosen.chosen.find((x) => x.exists && host.fs.realpath(host.p(`/sys/bus/pci/devices/${x.pci}/physfn`))?.endsWith(`/${c.pci}`));
    const wants = j >= 0 ? `vfs.${j} wants ${f.vfs![j]!.count} VF(s) on it` : vf ? `drivers.${vf.rule} binds its VF ${vf.pci}` : undefined;
    if (wants) plan.problems.push(`drivers.${c.rule}: rebinding the SR-IOV PF ${c.pci} (${step.what}) destroys its VFs, and ${wants}: leave the PF on its driver, or drop those entries`);
  }
  // a vDPA device lives on its parent's driver. The drivers step runs first, so a parent put on a
  // kernel driver (vp-vdpa, mlx5_core: its vDPA management device) gets the vDPA device made
  // after it; a parent put on vfio-pci, a uio driver or no driver can hold none: a contradiction
  const parentRebound = new Set<string>();
  (f.vdpa ?? []).forEach((v, i) => {
    const parent = v.mgmtdev.slice(4).toLowerCase();
    const step = plan.steps.find((s) => s.id === `driver:${parent}`);
    const c = rebinds.get(parent);
    if (!step || step.unchanged || !c) return;
    if (c.target.kind === 'none' || (c.target.kind === 'driver' && isUserspaceDriver(c.target.name))) {
      plan.problems.push(`vdpa.${i}: ${v.name} is made on ${parent}, which drivers.${c.rule} puts on ${targetText(c.target)}: a vDPA device needs its parent on a kernel driver that manages vDPA devices (e.g. vp-vdpa, mlx5_core)`);
    } else parentRebound.add(parent);
  });
  for (const [i, v] of (f.vdpa ?? []).entries()) {
    attempt(() => planVdpa(host, v, timeoutMs, { vfs: f.vfs, at: `vdpa.${i}`, parentRebound: parentRebound.has(v.mgmtdev.slice(4).toLowerCase()) }));
  }
  if (f.devicePlugin) attempt(() => planDevicePlugin(host, f.devicePlugin as NonNullable<NodeFile['devicePlugin']>));
  return plan;
}

export interface StepOutcome {
  id: string;
  what: string;
  status: 'unchanged' | 'planned' | 'changed' | 'failed' | 'not-run';
  actions?: string[];
  done?: string[];
  notes?: string[];
  error?: string;
}

/** Run the planned steps in order; the first failure stops the run, the rest are reported not run. */
export async function runPlan(steps: Step[]): Promise<StepOutcome[]> {
  const out: StepOutcome[] = [];
  let failedAt: number | undefined;
  for (const [i, s] of steps.entries()) {
    const base = { id: s.id, what: s.what, ...(s.notes.length > 0 ? { notes: s.notes } : {}) };
    if (s.unchanged) out.push({ ...base, status: 'unchanged' });
    else if (failedAt !== undefined || !s.run) out.push({ ...base, status: 'not-run', actions: s.actions });
    else {
      try {
        out.push({ ...base, status: 'changed', done: await s.run() });
      } catch (e) {
        failedAt = i;
        out.push({ ...base, status: 'failed', error: (e as Error).message });
      }
    }
  }
  return out;
}
