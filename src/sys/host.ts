import { accessSync, constants } from 'node:fs';
import { SysError } from './errors.js';
import { realFs, type Fs } from './fs.js';
import { execBounded, execSync, findTool, type BoundedExec, type Exec } from './exec.js';

/**
 * Everything the plugin does to the machine goes through a Host, so the logic can run against a
 * simulated node (DPDK_CNI_ROOT) or a fake in unit tests. Netlink operations (iproute2) always act
 * on the real kernel.
 */
export interface Host {
  /** DPDK_CNI_ROOT without a trailing slash; '' for the real root. */
  readonly root: string;
  readonly fs: Fs;
  readonly exec: Exec;
  /** Programs we do not control (IPAM plugins): bounded in time and output, their process group killed. */
  readonly execBounded: BoundedExec;
  /** Absolute path of a system tool (ip, nsenter, vdpa). */
  tool(name: string): string;
  /** A host path under the root: p('/sys/bus/pci') → `${root}/sys/bus/pci`. */
  p(path: string): string;
  readonly env: NodeJS.ProcessEnv;
}

/** DPDK_CNI_ROOT without a trailing slash ('' for /); SysError 'invalid-root' when it is relative. */
export function normaliseRoot(raw: string | undefined): string {
  if (!raw || raw === '/') return '';
  if (!raw.startsWith('/')) throw new SysError('invalid-root', `DPDK_CNI_ROOT must be an absolute path, got ${JSON.stringify(raw)}`);
  return raw.replace(/\/+$/, '');
}

declare const __TEST_HOOKS__: boolean;

/**
 * Where system tools are found. The test build only: DPDK_CNI_TEST_TOOLS names a directory whose
 * tools (an `ip` that plays SR-IOV PFs of the simulated node) are used instead of the system's.
 */
function toolFinder(env: NodeJS.ProcessEnv): (name: string) => string {
  const dir = typeof __TEST_HOOKS__ !== 'undefined' && __TEST_HOOKS__ ? env.DPDK_CNI_TEST_TOOLS : undefined;
  if (!dir) return findTool;
  return (name) => {
    const p = `${dir}/${name}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      return findTool(name);
    }
  };
}

export function makeHost(env: NodeJS.ProcessEnv, fs: Fs = realFs, exec: Exec = execSync, bounded: BoundedExec = execBounded): Host {
  const root = normaliseRoot(env.DPDK_CNI_ROOT);
  return {
    root,
    fs,
    exec,
    execBounded: bounded,
    tool: toolFinder(env),
    p: (path: string) => root + path,
    env,
  };
}
