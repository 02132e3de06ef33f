import type { Host } from '../../sys/host.js';
import { deviceChecks, vdpaChecks } from './devices.js';
import { binaryCheck, dpConfigCheck, stateCheck } from './install.js';
import { hugepagesCheck, hugetlbfsCheck, iommuCheck, vfioCheck } from './kernel.js';
import type { Check, CheckFn, DoctorOptions, Status } from './types.js';
import { verdictLines, worst } from '../shared/verdict.js';

/** Every check, in report order; one failing check never stops the others. */
const ALL: Array<[string, CheckFn]> = [
  ['iommu', iommuCheck],
  ['vfio', vfioCheck],
  ['hugepages', hugepagesCheck],
  ['hugetlbfs', hugetlbfsCheck],
  ['nic', deviceChecks],
  ['vdpa', vdpaChecks],
  ['dp-config', dpConfigCheck],
  ['cni-binary', binaryCheck],
  ['state', stateCheck],
];
export const CHECK_KINDS = ALL.map(([k]) => k);

interface Report {
  status: Status;
  summary: Record<Status, number>;
  checks: Check[];
}

export function runDoctor(host: Host, o: DoctorOptions, skip: ReadonlySet<string> = new Set()): Report {
  const checks: Check[] = [];
  for (const [kind, fn] of ALL) {
    if (skip.has(kind)) continue;
    try {
      checks.push(...fn(host, o));
    } catch (e) {
      checks.push({ id: kind, status: 'fail', message: `the ${kind} check itself failed: ${(e as Error).message}`, fix: 'report this as a dpdk-cni bug' });
    }
  }
  const summary: Record<Status, number> = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status]++;
  const status = worst(checks.map((c) => c.status));
  return { status, summary, checks };
}

/** The human report: a header, one verdict line per check (fixes under them), the tally. */
export function renderReport(r: Report, header: string): string {
  const width = Math.min(24, Math.max(...r.checks.map((c) => c.id.length), 4));
  const lines = [header];
  for (const c of r.checks) {
    lines.push(...verdictLines(c.status, `${c.id.padEnd(width)}  `, c.message, c.fix, width + 8));
  }
  lines.push(`\n${r.summary.pass} pass, ${r.summary.warn} warn, ${r.summary.fail} fail: ${r.status === 'pass' ? 'ready' : r.status === 'warn' ? 'ready, with warnings' : 'NOT ready'}`);
  return `${lines.join('\n')}\n`;
}
