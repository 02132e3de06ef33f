import yargs, { type Argv } from 'yargs';
import { commands } from './registry.js';
import { seaInfo } from '../../sea/chunk.js';
import { bunVersion, isSingleExecutable } from './runtime.js';
import { rawArgvProblem, repeatedOptions } from './args.js';
import { cut } from '../../cni/quote.js';
import { err, out } from './out.js';

/** yargs refused the arguments (or a command failed outside its own error handling): exit 2. */
class ArgsRejected extends Error {}

/**
 * The human CLI (node tools). Loaded only when dpdk-cni runs without CNI_COMMAND, so yargs never
 * costs a pod start. Each tool is one module in ./commands exporting a `register(y)` function.
 */
export async function runTool(argv: string[], version: string): Promise<number> {
  let code = 0;
  const problem = rawArgvProblem(argv);
  if (problem) {
    err(`dpdk-cni: ${problem}\nRun "dpdk-cni --help" for usage.\n`);
    return 2;
  }
  let y: Argv = yargs(argv)
    .scriptName('dpdk-cni')
    .usage(
      '$0 — CNI plugin for DPDK, SR-IOV VF and vDPA devices\n\n' +
        'As a CNI plugin it is run by the container runtime or Multus with CNI_COMMAND set.\n' +
        'Run by hand, it offers these node tools (all honour DPDK_CNI_ROOT):',
    )
    .command(
      'version',
      'print the version (--verbose: JSON with the Node (or Bun) it runs on and, for the Node single executable, whether its code cache was accepted)',
      (a) => a.option('verbose', { type: 'boolean', default: false, describe: 'print JSON with build details' }),
      (a) => {
        if (!a.verbose) return void out(`${version}\n`);
        const sea = seaInfo();
        const bun = bunVersion();
        const info = { version, node: process.version, ...(bun ? { bun } : {}), arch: process.arch, singleExecutable: isSingleExecutable(), ...(sea ?? {}) };
        out(`${JSON.stringify(info)}\n`);
      },
    );
  for (const c of commands) y = c.register(y, { version, argv, setExitCode: (n: number) => { code = n; } });
  try {
    await y
      .version(version)
      .demandCommand(1, 'name a command, or run with CNI_COMMAND set as a CNI plugin')
      .strict()
      // a repeated single-value option (--driver a --driver b) is refused, not turned into a list
      .check((argv, opts) => repeatedOptions(argv, opts))
      // Throwing (instead of only setting the exit code) is what keeps yargs from running the
      // command's handler after a rejected argument: nothing may happen when arguments are refused.
      .fail((msg, err) => {
        throw new ArgsRejected(err?.message ?? msg);
      })
      .help()
      .wrap(Math.min(110, process.stdout.columns || 100))
      .parseAsync();
  } catch (e) {
    // yargs echoes unknown arguments: a 100 KB one must not be echoed whole
    err(`dpdk-cni: ${cut((e as Error).message, 1024)}\nRun "dpdk-cni --help" for usage.\n`);
    return 2;
  }
  return code;
}
