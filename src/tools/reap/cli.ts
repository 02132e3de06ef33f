import type { Argv } from 'yargs';
import { stderrLogger, type Logger } from '../../log/logger.js';
import { makeHost, type Host } from '../../sys/host.js';
import type { ToolCommand, ToolContext } from '../cli/context.js';
import { err, out } from '../cli/out.js';
import { reapOnce, type ReapOutcome } from './reap.js';

/**
 * `dpdk-cni reap [--every SECONDS] [--cni-path DIRS] [--json]`: the CLI of ./reap.ts.
 * One pass: exit 0 when every attachment whose netns is gone was released (or none was), 1 when a
 * release failed (named on stderr; its state is kept), 2 when the pass could not run. Busy devices
 * and netns it cannot judge are not failures: they are logged and left to the next pass.
 * --every: a pass every SECONDS until SIGTERM/SIGINT (exit 0); a failed pass is logged, not fatal.
 */

const MAX_EVERY = 86_400;

function summary(o: ReapOutcome[]): string {
  const n = (s: ReapOutcome['status']) => o.filter((x) => x.status === s).length;
  return `dpdk-cni reap: released ${n('released')}, failed ${n('failed')}, busy ${n('busy')}, not judged ${n('not-judged')}\n`;
}

function failures(o: ReapOutcome[]): string[] {
  return o.filter((x) => x.status === 'failed').map((x) => `${x.net}/${x.containerID}/${x.ifname} (${x.pci}): ${x.reason}`);
}

async function pass(host: Host, log: Logger, cniPath: string[], json: boolean, stop?: () => boolean): Promise<ReapOutcome[]> {
  const o = await reapOnce(host, log, { cniPath, ...(stop ? { stop } : {}) });
  out(json ? `${JSON.stringify({ attachments: o })}\n` : summary(o));
  return o;
}

/** Waits `ms`, or less when SIGTERM/SIGINT comes; true = a signal came. */
function nap(ms: number, stop: { signal?: string; wake?: () => void }): Promise<boolean> {
  if (stop.signal) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    stop.wake = () => {
      clearTimeout(t);
      resolve(true);
    };
  });
}

async function run(a: { every?: number; cniPath: string; json: boolean }, ctx: ToolContext): Promise<void> {
  let host: Host;
  try {
    host = makeHost(process.env);
  } catch (e) {
    err(`dpdk-cni reap: ${(e as Error).message}\n`);
    return ctx.setExitCode(2);
  }
  const log = stderrLogger('info', { plugin: 'dpdk-cni', cmd: 'reap' });
  const cniPath = [...new Set(a.cniPath.split(':').filter((p) => p.startsWith('/')))];
  if (a.every === undefined) {
    try {
      const f = failures(await pass(host, log, cniPath, a.json));
      if (f.length > 0) {
        err(`dpdk-cni reap: ${f.length} release(s) failed; their state is kept, run reap again (or DEL them): ${f.join('; ')}\n`);
        ctx.setExitCode(1);
      }
    } catch (e) {
      err(`dpdk-cni reap: ${(e as Error).message}\n`);
      ctx.setExitCode(2);
    }
    return;
  }
  // Kept for the whole loop (not once): a signal during a pass, while an IPAM plugin runs, is also
  // seen by execBounded, which stops the plugin and raises the signal again; with our listener
  // still there that does not end the process: the pass stops after the attachment at hand (whose
  // release, cut short, keeps its state for the next pass or a DEL) and the loop exits 0.
  const stop: { signal?: string; wake?: () => void } = {};
  for (const s of ['SIGTERM', 'SIGINT'] as const) {
    process.on(s, () => {
      stop.signal ??= s;
      stop.wake?.();
    });
  }
  log.info('reaping until SIGTERM', { every: a.every, cniPath });
  for (;;) {
    try {
      await pass(host, log, cniPath, a.json, () => stop.signal !== undefined);
    } catch (e) {
      log.error('reap: the pass failed; the next pass retries', { err: e });
    }
    if (await nap(a.every * 1000, stop)) break;
  }
  log.info('stopping', { signal: stop.signal });
  ctx.setExitCode(0);
}

export const reap: ToolCommand = {
  register(y: Argv, ctx: ToolContext): Argv {
    return y.command(
      'reap',
      'release every attachment whose network namespace is gone (the DEL that never came), as DEL and GC do',
      (b) =>
        b
          .option('every', { type: 'number', describe: `run a pass every SECONDS (0.1 to ${MAX_EVERY}) until SIGTERM/SIGINT, instead of once` })
          .option('cni-path', { type: 'string', default: process.env.CNI_PATH || '/opt/cni/bin', describe: 'CNI_PATH for the IPAM plugins of released attachments (default: $CNI_PATH, else /opt/cni/bin)' })
          .option('json', { type: 'boolean', default: false, describe: 'print each pass as one JSON line: {"attachments":[...]}' })
          .check((v) => {
            const e = v.every;
            if (e !== undefined && !(typeof e === 'number' && Number.isFinite(e) && e >= 0.1 && e <= MAX_EVERY)) throw new Error(`--every must be a number of seconds from 0.1 to ${MAX_EVERY}`);
            return true;
          })
          .example('$0 reap', 'one pass')
          .example('$0 reap --every 60', 'a pass a minute (the DaemonSet)'),
      (v) => run({ every: v.every, cniPath: v['cni-path'], json: v.json }, ctx),
    );
  },
};
