import { CniError, Code } from './errors.js';
import { parseCniArgs, type CniArgs } from './cni-args.js';
import { quote } from './quote.js';
import { NAME_RE, validateIfName } from '../config/names.js';

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

const CONTAINER_ID_RE = NAME_RE;

/** Which variables each command requires (as the reference skel enforces them). */
const REQUIRED: Record<Command, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
  VERSION: [],
};

export function parseCommand(raw: string | undefined): Command {
  if (!raw) throw new CniError(Code.InvalidEnv, 'required env variables [CNI_COMMAND] missing');
  if (!(COMMANDS as readonly string[]).includes(raw)) {
    throw new CniError(Code.InvalidEnv, `unknown CNI_COMMAND ${quote(raw)} (expected one of ${COMMANDS.join(', ')})`);
  }
  return raw as Command;
}

/** Read and validate the CNI_* variables for one command. VERSION validates nothing. */
export function parseEnv(command: Command, env: NodeJS.ProcessEnv): CmdArgs {
  const get = (k: string): string => env[k] ?? '';
  if (command === 'VERSION') {
    return { command, containerId: get('CNI_CONTAINERID'), netns: '', ifName: '', args: { ignoreUnknown: true, other: {} }, path: [] };
  }
  // Every violation is reported in one message (code 4).
  const errs: string[] = [];
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length > 0) errs.push(`required env variables [${missing.join(',')}] missing`);
  const containerId = get('CNI_CONTAINERID');
  const ifName = get('CNI_IFNAME');
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    if (containerId && !CONTAINER_ID_RE.test(containerId)) {
      errs.push(`CNI_CONTAINERID ${quote(containerId)} is invalid: it must match ${CONTAINER_ID_RE.source}`);
    }
    const bad = ifName ? validateIfName(ifName) : undefined;
    if (bad) errs.push(`CNI_IFNAME ${quote(ifName)} ${bad}`);
    // the kernel reads "%" in a new name as a numbering pattern (net%d becomes net0): the device
    // would not get the name asked for. Only ADD: a DPDK attachment made before this rule still goes.
    else if (command === 'ADD' && ifName.includes('%')) errs.push(`CNI_IFNAME ${quote(ifName)} must not contain "%" (the kernel reads it as a numbering pattern: the device would not get this name)`);
  }
  const netns = get('CNI_NETNS');
  if (netns && !netns.startsWith('/')) errs.push(`CNI_NETNS ${quote(netns)} must be an absolute path`);
  else if (Buffer.byteLength(netns) > 4095) errs.push(`CNI_NETNS ${quote(netns)} is longer than 4095 bytes (PATH_MAX)`);
  const path = [...new Set(get('CNI_PATH').split(':').filter((p) => p.startsWith('/')))];
  let args: CniArgs = { ignoreUnknown: true, other: {} };
  try {
    // DEL and GC must release whatever CNI_ARGS say (an ADD refused for them leaves nothing to find)
    args = parseCniArgs(env.CNI_ARGS, command === 'DEL' || command === 'GC');
  } catch (e) {
    errs.push((e as Error).message);
  }
  if (errs.length > 0) throw new CniError(Code.InvalidEnv, errs.join('; '));
  return { command, containerId, netns, ifName, args, path };
}
