/**
 * Composition root. The CNI hot path (CNI_COMMAND set) loads only the protocol layer and the one
 * command module it needs; the human CLI (yargs) is loaded lazily when there is no CNI_COMMAND.
 */
import { runCni, type Collaborators } from './cni/skel.js';
import { readStdin } from './cni/stdin.js';
import { handlers } from './verbs/index.js';
import { withExecLog } from './log/exec-log.js';
import { openLogger } from './log/open.js';
import { makeHost } from './sys/host.js';
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
    const out = await runCni(env, cniCollaborators());
    process.exitCode = out.exitCode;
    return;
  }
  const { runTool } = await import('./tools/cli/tool.js');
  process.exitCode = await runTool(process.argv.slice(2), VERSION);
}

/** The real machine: the verbs, the node's Host, the netconf's logger, fd 0 and fd 1. */
function cniCollaborators(): Collaborators {
  return {
    handlers,
    host: (env, log) => withExecLog(makeHost(env), log),
    logger: openLogger,
    stdin: readStdin,
    // runCni writes the answer itself: a failed write is logged and makes the exit code 1
    stdout: (text) => writeAll(1, text),
  };
}
