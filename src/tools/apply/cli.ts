import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { makeHost, type Host } from '../../sys/host.js';
import { seconds } from '../cli/args.js';
import type { ToolCommand, ToolContext } from '../cli/context.js';
import { err, out } from '../cli/out.js';
import { planApply, runPlan, type StepOutcome } from './plan.js';
import { parseNodeFile } from './schema.js';

/**
 * `dpdk-cni node apply -f FILE [--dry-run] [--json]`: make this node as the node file describes
 * (docs/node-file.md). Exit: 0 done, nothing to do, or a dry run; 1 refused (a device the host or
 * a pod uses: nothing changed); 2 the file has errors or does not fit this node (nothing changed),
 * or a step failed (what was applied before it is listed).
 */
const MAX_FILE = 1024 * 1024;
const TAG: Record<StepOutcome['status'], string> = { unchanged: 'unchanged', planned: 'would', changed: 'changed', failed: 'FAILED', 'not-run': 'not run' };

function render(o: StepOutcome[], notes: string[]): string {
  const lines: string[] = [];
  for (const s of o) {
    lines.push(`${TAG[s.status].padEnd(10)} ${s.what}${s.error ? `: ${s.error}` : ''}`);
    for (const l of s.status === 'planned' ? (s.actions ?? []) : (s.done ?? [])) lines.push(`             ${l}`);
    for (const n of s.notes ?? []) lines.push(`             note: ${n}`);
  }
  for (const n of notes) lines.push(`note: ${n}`);
  return lines.map((l) => `${l}\n`).join('');
}

function readFile(host: Host, file: string): { text: string } | { problem: string } {
  const r = host.fs.readRegular(resolve(file), MAX_FILE);
  if (!r) return { problem: `${file} does not exist` };
  if ('problem' in r) return { problem: `${file} ${r.problem}` };
  return r;
}

async function run(a: { file: string; dryRun: boolean; json: boolean; timeoutMs: number }, ctx: ToolContext): Promise<void> {
  const say = (o: Record<string, unknown>, human: string, code: number, toErr = false) => {
    if (a.json) out(`${JSON.stringify({ file: a.file, dryRun: a.dryRun, ...o }, null, 2)}\n`);
    if (!a.json || toErr) (toErr ? err : out)(human);
    ctx.setExitCode(code);
  };
  let host: Host;
  try {
    host = makeHost(process.env);
  } catch (e) {
    return say({ status: 'failed', error: (e as Error).message }, `dpdk-cni node apply: ${(e as Error).message}\n`, 2, true);
  }
  const read = readFile(host, a.file);
  if ('problem' in read) return say({ status: 'invalid', violations: [read.problem] }, `dpdk-cni node apply: ${read.problem}; nothing was changed\n`, 2, true);
  const parsed = parseNodeFile(read.text);
  if ('violations' in parsed) {
    const v = parsed.violations;
    return say({ status: 'invalid', violations: v }, `dpdk-cni node apply: ${a.file} has ${v.length} error(s); nothing was changed:\n${v.map((x) => `  - ${x}\n`).join('')}`, 2, true);
  }
  const plan = planApply(host, parsed.file, a.timeoutMs);
  if (plan.refusals.length > 0 || plan.problems.length > 0) {
    const all = [...plan.refusals.map((r) => `refused: ${r}`), ...plan.problems];
    return say(
      { status: plan.problems.length > 0 ? 'invalid' : 'refused', refusals: plan.refusals, problems: plan.problems },
      `dpdk-cni node apply: ${a.file} cannot be applied to this node; nothing was changed:\n${all.map((x) => `  - ${x}\n`).join('')}`,
      plan.problems.length > 0 ? 2 : 1,
      true,
    );
  }
  const todo = plan.steps.filter((s) => !s.unchanged).length;
  if (a.dryRun || todo === 0) {
    const o: StepOutcome[] = plan.steps.map((s) => ({ id: s.id, what: s.what, status: s.unchanged ? 'unchanged' : 'planned', ...(s.unchanged ? {} : { actions: s.actions }), ...(s.notes.length > 0 ? { notes: s.notes } : {}) }));
    const end = todo === 0 ? `nothing to change: the node is as ${a.file} describes\n` : `dry run: ${todo} change(s) to make; nothing was changed\n`;
    return say({ status: todo === 0 ? 'unchanged' : 'planned', changes: todo, steps: o, notes: plan.notes }, render(o, plan.notes) + end, 0);
  }
  const o = await runPlan(plan.steps);
  const changed = o.filter((s) => s.status === 'changed').length;
  const bad = o.find((s) => s.status === 'failed');
  if (!bad) return say({ status: 'applied', changes: changed, steps: o, notes: plan.notes }, `${render(o, plan.notes)}applied ${changed} change(s)\n`, 0);
  const before = o.filter((s) => s.status === 'changed').map((s) => s.what);
  say({ status: 'failed', changes: changed, failedStep: bad.id, steps: o, notes: plan.notes }, render(o, plan.notes), 2);
  err(`dpdk-cni node apply: failed at ${bad.id} (${bad.what}): ${bad.error}\n  applied before it: ${before.length > 0 ? before.join('; ') : 'nothing'}\n  not run: ${o.filter((s) => s.status === 'not-run').map((s) => s.id).join(', ') || 'nothing'}\n`);
}

export const node: ToolCommand = {
  register(y: Argv, ctx: ToolContext): Argv {
    return y.command('node', 'declarative node preparation: node apply -f FILE', (b) =>
      b
        .command(
          'apply',
          'make this node as a node file describes (VF counts, drivers, no-IOMMU mode, vDPA devices, the device plugin config); idempotent',
          (c) =>
            c
              .option('file', { alias: 'f', type: 'string', demandOption: true, describe: 'the node file (JSON, docs/node-file.md), read as given (not under DPDK_CNI_ROOT)' })
              .option('dry-run', { type: 'boolean', default: false, describe: 'print what would change, change nothing' })
              .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
              .option('timeout', { type: 'number', default: 10, describe: 'seconds to wait for the kernel after each step' })
              .check((v) => seconds('timeout', v.timeout, ctx.argv))
              .example('$0 node apply -f node.json --dry-run', 'what would change')
              .example('$0 node apply -f node.json', 'apply it'),
          (v) => run({ file: v.file, dryRun: v['dry-run'], json: v.json, timeoutMs: Math.round(v.timeout * 1000) }, ctx),
        )
        .demandCommand(1, 'name a node subcommand: apply'),
    );
  },
};
