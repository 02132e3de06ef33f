import { join } from 'node:path';
import type { Argv } from 'yargs';
import { makeHost } from '../../sys/host.js';
import type { ToolCommand, ToolContext } from '../cli/context.js';
import { err, out as print } from '../cli/out.js';
import { installTo, selfFile } from './install.js';

/** `dpdk-cni install [--target dir] [--name n] [--sleep | --check]`: the CLI of ./install.ts. */

/** A size for the one-line report (the bundle is kB, the single executable MB). */
function mb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** `--sleep`: a DaemonSet container must keep running; exits on SIGTERM or SIGINT. */
async function sleepUntilSignal(log: (msg: string, extra?: Record<string, unknown>) => void): Promise<void> {
  const timer = setInterval(() => {}, 2 ** 31 - 1);
  const signal = await new Promise<string>((resolve) => {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
  });
  clearInterval(timer);
  log('stopping', { signal });
}

async function run(args: { target: string; name: string; sleep: boolean; check: boolean }, ctx: ToolContext): Promise<void> {
  const out = (line: string) => print(`dpdk-cni install: ${line}\n`);
  // install's paths are the container's (the node's bin directory as mounted), not DPDK_CNI_ROOT's
  const { fs } = makeHost({});
  let src: string;
  try {
    src = selfFile(fs);
    const dest = join(args.target, args.name);
    if (args.check) {
      const ok = fs.sameBytes(src, dest);
      out(ok ? `${dest} is this executable (${ctx.version})` : `${dest} is missing or differs from this executable (${ctx.version})`);
      ctx.setExitCode(ok ? 0 : 1);
      return;
    }
    const r = installTo(fs, src, args.target, args.name);
    const size = fs.fileSize(r.dest) ?? 0;
    const what = r.outcome === 'up-to-date' ? `${r.dest} is up to date (byte-identical, ${mb(size)}), left alone` : `${r.outcome} ${r.dest} (${mb(size)}, version ${ctx.version}) from ${src}`;
    out(what);
  } catch (e) {
    err(`dpdk-cni install: ${(e as Error).message}\n`);
    ctx.setExitCode(2);
    return;
  }
  if (!args.sleep) return;
  // Only the DaemonSet's long-running container pays for pino.
  const { pino } = await import('pino');
  const logger = pino({ base: { plugin: 'dpdk-cni', cmd: 'install', pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
  logger.info({ target: join(args.target, args.name), version: ctx.version }, 'installed; sleeping until SIGTERM');
  await sleepUntilSignal((msg, extra) => logger.info(extra ?? {}, msg));
  ctx.setExitCode(0);
}

export const install: ToolCommand = {
  register(y: Argv, ctx: ToolContext): Argv {
    return y.command(
      'install',
      'copy this executable into the CNI bin directory, atomically (DaemonSet installer)',
      (a) =>
        a
          .option('target', { type: 'string', default: '/host/opt/cni/bin', describe: "directory to install into (the node's /opt/cni/bin as mounted in the container)" })
          .option('name', { type: 'string', default: 'dpdk-cni', describe: 'file name in the target directory (the "type" of the network configurations)' })
          .option('sleep', { type: 'boolean', default: false, describe: 'after installing, keep running until SIGTERM/SIGINT (exit 0), for a DaemonSet' })
          .option('check', { type: 'boolean', default: false, describe: 'install nothing: exit 0 if the target is byte-identical to this executable, else 1 (readiness probe)' })
          .check((argv) => {
            if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(argv.name)) throw new Error(`--name ${JSON.stringify(argv.name)} must be a plain file name`);
            if (argv.check && argv.sleep) throw new Error('--check and --sleep cannot be combined');
            return true;
          }),
      (argv) => run({ target: argv.target, name: argv.name, sleep: argv.sleep, check: argv.check }, ctx),
    );
  },
};
