/**
 * Composition root. The CNI hot path (CNI_COMMAND set) loads only the protocol layer and the one
 * command module it needs; the human CLI (yargs) is loaded lazily when there is no CNI_COMMAND.
 */
import { runCni } from './cni/skel.js';
import { handlers } from './commands/index.js';
import { openLogger } from './log/open.js';
import { writeAll } from './sys/stdout.js';

declare const __VERSION__: string;
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';

export async function main(): Promise<void> {
  const env = process.env;
  if (env.CNI_COMMAND || process.argv.length <= 2) {
    if (!env.CNI_COMMAND) {
      try {
        writeAll(2, 'dpdk-cni: CNI_COMMAND is not set; this is a CNI plugin. Run "dpdk-cni --help" for the node tools.\n');
      } catch {
        /* stderr unusable: the answer on stdout still says it */
      }
    }
    // runCni writes the answer itself: a failed write is logged and makes the exit code 1
    const out = await runCni(env, handlers, undefined, openLogger, (text) => writeAll(1, text));
    process.exitCode = out.exitCode;
    return;
  }
  const { runTool } = await import('./tools/cli/tool.js');
  process.exitCode = await runTool(process.argv.slice(2), VERSION);
}
