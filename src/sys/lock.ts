import type { Server } from 'node:net';
import { fnv64 } from './hash.js';
import { CniError, Code } from '../cni/errors.js';

/**
 * Cross-process exclusive locks on abstract unix sockets: binding a name is exclusive and the
 * kernel releases it when the holder exits, even on SIGKILL, so a lock can never go stale and
 * nobody has to "steal" it. All callers of a CNI plugin run in the host network namespace, where
 * the abstract socket names live. `scope` (the DPDK_CNI_ROOT) keeps simulated nodes apart.
 */
export interface Lock {
  release(): void;
}

export interface LockOptions {
  timeoutMs: number;
  pollMs?: number;
}

function tryBind(name: string): Promise<Server | undefined> {
  // getBuiltinModule, not import(): a dynamic import() has no loader inside a snapshot-built
  // single executable (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), and net stays lazy.
  const net = process.getBuiltinModule('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') resolve(undefined);
      else reject(e);
    });
    srv.listen({ path: `\0${name}` }, () => {
      srv.unref();
      resolve(srv);
    });
  });
}

export function lockName(scope: string, key: string): string {
  const h = fnv64(scope).slice(0, 12);
  return `dpdk-cni/${h}/${key}`;
}

export async function acquireLock(scope: string, key: string, opts: LockOptions): Promise<Lock> {
  const name = lockName(scope, key);
  const deadline = Date.now() + opts.timeoutMs;
  let wait = 2;
  for (;;) {
    const srv = await tryBind(name);
    if (srv) return { release: () => srv.close() };
    if (Date.now() >= deadline) {
      throw new CniError(Code.TryAgainLater, `could not lock ${key} within ${opts.timeoutMs} ms: another dpdk-cni operation on this device is still running; the runtime should retry`);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, opts.pollMs ?? 50);
  }
}
