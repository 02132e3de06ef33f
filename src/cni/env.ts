import { CniError, Code } from './errors.js';
import { parseCniArgs, type CniArgs } from './cni-args.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CmdArgs {
  command: Command;
  containerId: string;
  netns: string;
  ifName: string;
  args: CniArgs;
  path: string[];
}

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Which variables each command requires (as the reference skel enforces them). */
const REQUIRED: Record<Command, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
  VERSION: [],
};

export function validateIfName(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return `is longer than 15 bytes`;
  if (name === '.' || name === '..') return `must not be "${name}"`;
  if (/[/:\s]/.test(name)) return 'must not contain "/", ":" or whitespace';
  return undefined;
}

export function parseCommand(raw: string | undefined): Command {
  if (!raw) throw new CniError(Code.InvalidEnv, 'required env variables [CNI_COMMAND] missing');
  if (!(COMMANDS as readonly string[]).includes(raw)) {
    throw new CniError(Code.InvalidEnv, `unknown CNI_COMMAND ${JSON.stringify(raw)} (expected one of ${COMMANDS.join(', ')})`);
  }
  return raw as Command;
}

/** Read and validate the CNI_* variables for one command. VERSION validates nothing. */
export function parseEnv(command: Command, env: NodeJS.ProcessEnv): CmdArgs {
  const get = (k: string): string => env[k] ?? '';
  if (command === 'VERSION') {
    return { command, containerId: get('CNI_CONTAINERID'), netns: '', ifName: '', args: { ignoreUnknown: true, other: {} }, path: [] };
  }
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new CniError(Code.InvalidEnv, `required env variables [${missing.join(',')}] missing`);
  }
  const containerId = get('CNI_CONTAINERID');
  const ifName = get('CNI_IFNAME');
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    if (!CONTAINER_ID_RE.test(containerId)) {
      throw new CniError(Code.InvalidEnv, `CNI_CONTAINERID ${JSON.stringify(containerId)} is invalid: it must match ${CONTAINER_ID_RE.source}`);
    }
    const bad = validateIfName(ifName);
    if (bad) throw new CniError(Code.InvalidEnv, `CNI_IFNAME ${JSON.stringify(ifName)} ${bad}`);
  }
  const netns = get('CNI_NETNS');
  if (netns && !netns.startsWith('/')) {
    throw new CniError(Code.InvalidEnv, `CNI_NETNS ${JSON.stringify(netns)} must be an absolute path`);
  }
  const path = [...new Set(get('CNI_PATH').split(':').filter((p) => p.startsWith('/')))];
  // DEL and GC must release whatever CNI_ARGS say (an ADD refused for them leaves nothing to find)
  return { command, containerId, netns, ifName, args: parseCniArgs(env.CNI_ARGS, command === 'DEL' || command === 'GC'), path };
}
