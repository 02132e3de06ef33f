import type { Argv } from 'yargs';
import { CniError, Code } from '../../cni/errors.js';
import { lockDevice, lockTimeoutMs } from '../../verbs/common.js';
import type { Lock } from '../../sys/lock.js';
import { makeHost, type Host } from '../../sys/host.js';
import { checkAddress, executeBind, lastKnownText, parseTarget, planBind, targetText, writeText, type BindOutcome, type BindPlan, type DevView, type Target } from './bind.js';
import { exitCodeOf, failed } from '../shared/errors.js';
import { nodeStatus, renderStatus } from './status.js';
import { seconds } from '../cli/args.js';
import type { ToolContext } from '../cli/context.js';
import { err, out as print } from '../cli/out.js';

/** A device's driver and what hangs on it, for one line of the report. */
function devText(v: DevView): string {
  if (!v.driver) return v.override ? `no driver (driver_override=${v.override})` : 'no driver';
  const extra: string[] = [];
  if (v.netdev) extra.push(v.netdev, ...(v.mac ? [v.mac] : []), ...(v.mtu !== undefined ? [`mtu ${v.mtu}`] : []));
  if (v.vfioNode) extra.push(`iommu group ${v.iommuGroup}`, v.vfioNode);
  return extra.length > 0 ? `${v.driver} (${extra.join(', ')})` : v.driver;
}

function show(host: Host, o: BindPlan & { after?: DevView }, dryRun: boolean): string {
  const lines: string[] = [];
  if (o.unchanged) {
    lines.push(`${o.pci}: already ${o.before.driver ? `bound to ${devText(o.before)}` : 'without a driver'}; nothing to do`);
  } else if (dryRun) {
    lines.push(`${o.pci}: ${devText(o.before)} -> ${targetText(o.target)} (dry run: nothing changed)`);
  } else {
    lines.push(`${o.pci}: ${devText(o.before)} -> ${devText(o.after ?? {})}`);
  }
  if (!o.unchanged) {
    if (dryRun) {
      if (o.modprobe) lines.push(`  would run modprobe ${o.modprobe}`);
      if (o.lastKnown) lines.push(`  ${lastKnownText(host, o.lastKnown, 'would record')}`);
      for (const x of o.writes) lines.push(`  ${writeText(x, 'would write')}`);
    } else {
      for (const x of o.done) lines.push(`  ${x}`);
    }
  }
  for (const n of o.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}

interface RunOpts {
  pcis: string[];
  target: Target;
  force: boolean;
  dryRun: boolean;
  json: boolean;
  timeoutMs: number;
}

async function run(opts: RunOpts, ctx: ToolContext): Promise<void> {
  const host = makeHost(process.env);
  // validate every argument before touching any device
  let pcis: string[];
  try {
    pcis = opts.pcis.map(checkAddress);
    if (pcis.length === 0) throw failed('name at least one PCI address (or use --status)');
  } catch (e) {
    err(`dpdk-cni: ${(e as Error).message}\n`);
    ctx.setExitCode(2);
    return;
  }
  pcis = [...new Set(pcis)];
  let worst = 0;
  const results: Array<Record<string, unknown>> = [];
  // Every device is checked before any is touched: a refusal (or error) for one changes nothing
  // at all. The locks are held from the checks to the end, taken in address order.
  const locks: Array<{ release(): void }> = [];
  try {
    // the same per-device lock CNI ADD/DEL/GC hold; a dry run changes nothing and takes none
    const plans = new Map<string, BindPlan>();
    const refusals = new Map<string, unknown>();
    if (!opts.dryRun) {
      for (const pci of [...pcis].sort()) {
        try {
          locks.push(await lockFor(host, pci));
        } catch (e) {
          refusals.set(pci, e);
          break;
        }
      }
    }
    if (refusals.size === 0) {
      for (const pci of pcis) {
        try {
          plans.set(pci, planBind(host, pci, opts.target, { force: opts.force }));
        } catch (e) {
          refusals.set(pci, e);
        }
      }
    }
    if (refusals.size > 0) {
      for (const pci of pcis) {
        const e = refusals.get(pci);
        if (e === undefined) {
          results.push({ pci, status: 'skipped', reason: 'another device was refused or busy; nothing was changed' });
          if (!opts.json) err(`dpdk-cni: ${pci}: not changed: another device was refused or busy\n`);
          continue;
        }
        const code = exitCodeOf(e);
        worst = Math.max(worst, code);
        const status = code === 1 ? 'refused' : 'failed';
        results.push({ pci, status, error: (e as Error).message });
        err(`dpdk-cni: ${pci}: ${status}: ${(e as Error).message}\n`);
      }
      if (pcis.length > 1) err('dpdk-cni: no device was changed\n');
    } else {
      for (const pci of pcis) {
        const plan = plans.get(pci) as BindPlan;
        try {
          const out: BindPlan & { after?: DevView } = opts.dryRun ? plan : await executeBind(host, plan, opts.timeoutMs);
          results.push({ ...out, status: out.unchanged ? 'unchanged' : opts.dryRun ? 'planned' : 'changed' });
          if (!opts.json) print(show(host, out, opts.dryRun));
        } catch (e) {
          const code = exitCodeOf(e);
          worst = Math.max(worst, code);
          const status = code === 1 ? 'refused' : 'failed';
          results.push({ pci, status, error: (e as Error).message, done: plan.done, notes: plan.notes });
          if (!opts.json && (plan.done.length > 0 || plan.notes.length > 0)) {
            print(`${pci}: ${devText(plan.before)} -> ${targetText(plan.target)}\n${[...plan.done, ...plan.notes.map((n) => `note: ${n}`)].map((l) => `  ${l}\n`).join('')}`);
          }
          err(`dpdk-cni: ${pci}: ${status}: ${(e as Error).message}\n`);
        }
      }
    }
  } finally {
    for (const l of locks) l.release();
  }
  if (opts.json) print(`${JSON.stringify({ devices: results }, null, 2)}\n`);
  ctx.setExitCode(worst);
}

async function lockFor(host: Host, pci: string): Promise<Lock> {
  const timeoutMs = lockTimeoutMs(host.env);
  try {
    return await lockDevice(host, pci, timeoutMs);
  } catch (e) {
    if (!(e instanceof CniError && e.code === Code.TryAgainLater)) throw failed(`cannot take ${pci}'s device lock: ${(e as Error).message}; nothing was changed`);
    throw failed(`${pci} is locked by another dpdk-cni operation (a CNI ADD, DEL, CHECK or GC of a pod, or another bind) that did not finish within ${timeoutMs / 1000} s; nothing was changed: run this again when it is done`);
  }
}

/** --timeout, checked by yargs before the command runs */
const timeoutMs = (s: number): number => Math.round(s * 1000);

/**
 * `dpdk-cni bind <pci...> --driver D`, `dpdk-cni bind --status`, `dpdk-cni unbind <pci...>`.
 * Exit: 0 done (or nothing to do), 1 refused by a safety check (--force overrides), 2 error.
 */
export function register(y: Argv, ctx: ToolContext): Argv {
  return y
    .command(
      'bind [pci..]',
      'bind network devices to a driver (vfio-pci, igb_uio, uio_pci_generic, a kernel driver, or "kernel"); --status lists devices by driver',
      (b) =>
        b
          .positional('pci', { type: 'string', array: true, describe: 'PCI addresses, e.g. 0000:00:06.0' })
          .option('driver', { alias: 'd', type: 'string', describe: 'driver to bind to; "kernel" = clear driver_override and let the kernel pick' })
          .option('status', { alias: 's', type: 'boolean', default: false, describe: 'list network devices grouped by driver, like dpdk-devbind.py --status' })
          .option('force', { type: 'boolean', default: false, describe: 'rebind even if the netdev is up with addresses/routes, a pod uses it, or it is not a network device' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print what would be done, change nothing' })
          .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
          .option('timeout', { type: 'number', default: 5, describe: 'seconds to wait for the kernel to bind the device' })
          .check((a) => seconds('timeout', a.timeout, ctx.argv))
          .example('$0 bind 0000:00:06.0 --driver vfio-pci', 'hand a NIC to DPDK')
          .example('$0 bind 0000:00:06.0 --driver kernel', 'give it back to its kernel driver')
          .example('$0 bind --status', 'list network devices by driver'),
      async (a) => {
        const host = makeHost(process.env);
        if (a.status) {
          if ((a.pci ?? []).length > 0 || a.driver) {
            err('dpdk-cni: --status takes no PCI addresses and no --driver\n');
            ctx.setExitCode(2);
            return;
          }
          const s = nodeStatus(host);
          print(a.json ? `${JSON.stringify(s, null, 2)}\n` : renderStatus(s));
          return;
        }
        if (!a.driver) {
          err('dpdk-cni: bind needs --driver (vfio-pci, igb_uio, uio_pci_generic, a kernel driver name, or "kernel"), or --status\n');
          ctx.setExitCode(2);
          return;
        }
        let target: Target;
        try {
          target = parseTarget(a.driver);
        } catch (e) {
          err(`dpdk-cni: ${(e as Error).message}\n`);
          ctx.setExitCode(2);
          return;
        }
        await run({ pcis: (a.pci ?? []).map(String), target, force: a.force, dryRun: a['dry-run'], json: a.json, timeoutMs: timeoutMs(a.timeout) }, ctx);
      },
    )
    .command(
      'unbind <pci..>',
      'release network devices from their driver (they stay without a driver; driver_override is cleared)',
      (b) =>
        b
          .positional('pci', { type: 'string', array: true, demandOption: true, describe: 'PCI addresses' })
          .option('force', { type: 'boolean', default: false, describe: 'unbind even if the netdev is in use or a pod uses it' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print what would be done, change nothing' })
          .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
          .option('timeout', { type: 'number', default: 5, describe: 'seconds to wait for the kernel' })
          .check((a) => seconds('timeout', a.timeout, ctx.argv)),
      async (a) => {
        await run({ pcis: (a.pci ?? []).map(String), target: { kind: 'none' }, force: a.force, dryRun: a['dry-run'], json: a.json, timeoutMs: timeoutMs(a.timeout) }, ctx);
      },
    );
}
