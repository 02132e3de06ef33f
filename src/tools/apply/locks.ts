import type { Host } from '../../sys/host.js';
import { acquireLock, type Lock } from '../../sys/lock.js';
import { failed } from '../shared/errors.js';

/** How long a step waits for a device lock an ADD, DEL, GC or bind holds: as the CNI verbs, 30 s or DPDK_CNI_LOCK_TIMEOUT_MS. */
function lockTimeoutMs(env: NodeJS.ProcessEnv): number {
  const n = Number(env.DPDK_CNI_LOCK_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 30_000;
}

/**
 * Run `fn` holding the per-device locks of `pcis` (the ones CNI ADD/DEL/CHECK/GC and bind take),
 * taken in address order so two tools never deadlock. A lock that does not come is a step failure
 * with nothing done.
 */
export async function withDeviceLocks<T>(host: Host, pcis: readonly string[], fn: () => Promise<T>): Promise<T> {
  const held: Lock[] = [];
  const timeoutMs = lockTimeoutMs(host.env);
  try {
    for (const pci of [...new Set(pcis)].sort()) {
      try {
        held.push(await acquireLock(host.root || '/', `pci/${pci}`, { timeoutMs }));
      } catch (e) {
        throw failed(`${pci} is locked by another dpdk-cni operation (a CNI ADD, DEL, CHECK or GC, or a bind) that did not finish within ${timeoutMs / 1000} s; nothing was done in this step: ${(e as Error).message}`);
      }
    }
    return await fn();
  } finally {
    for (const l of held.reverse()) l.release();
  }
}
