import type { Server } from 'node:net';
import { fnv64 } from './hash.js';
import { SysError } from './errors.js';

export interface Lock {
  release(): void;
}

export interface LockOptions {
  timeoutMs: number;
  pollMs?: number;
  /** what the lock protects, for the error message (default: the key) */
  what?: string;
}

const EADDRINUSE = -98; // libuv's UV_EADDRINUSE on Linux

interface PipeHandle {
  bind(name: string): number;
  close(): void;
}
interface PipeWrap {
  Pipe: new (kind: number) => PipeHandle;
  constants: { SERVER: number };
}

let pipeWrap: PipeWrap | null | undefined;
/**
 * The socket is only bound, never listened on: bind() alone claims the name. It is bound through
 * the pipe handle node:net itself uses (process.binding('pipe_wrap'), on Node's allow-list for
 * process.binding), because loading node:net costs ~6 ms per process, 12% of a Node start
 * (docs/performance.md) and bind() is synchronous anyway. Where that handle is not available,
 * node:net does it (tryBindNet).
 *
 * The pipe_wrap binding, or null when it cannot (or, DPDK_CNI_LOCK_IMPL=net, must not) be used. */
export function pipeBinding(): PipeWrap | null {
  if (process.env.DPDK_CNI_LOCK_IMPL === 'net') return null;
  if (pipeWrap === undefined) {
    pipeWrap = null;
    // With --pending-deprecation, process.binding() warns on stderr; this use is deliberate.
    const quiet = process.noDeprecation;
    process.noDeprecation = true;
    try {
      const b = (process as unknown as { binding(n: string): PipeWrap }).binding('pipe_wrap');
      if (typeof b?.Pipe === 'function' && typeof b.constants?.SERVER === 'number') pipeWrap = b;
    } catch {
      /* not available in this Node: node:net below */
    } finally {
      process.noDeprecation = quiet;
    }
  }
  return pipeWrap;
}

type Held = { close(): void };

function tryBind(name: string): Promise<Held | undefined> {
  const pw = pipeBinding();
  if (pw) {
    const h = new pw.Pipe(pw.constants.SERVER);
    const err = h.bind(`\0${name}`);
    if (err === 0) return Promise.resolve(h);
    h.close();
    if (err === EADDRINUSE) return Promise.resolve(undefined);
    const code = process.getBuiltinModule('node:util').getSystemErrorName(err);
    return Promise.reject(Object.assign(new Error(`bind ${code} @${name}`), { code }));
  }
  return tryBindNet(name);
}

function tryBindNet(name: string): Promise<Server | undefined> {
  // getBuiltinModule, not import(): code the single executable compiles with vm.Script has no
  // dynamic-import loader (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), and net stays lazy.
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

/** The abstract socket name of lock `key` on the node whose DPDK_CNI_ROOT is `scope`. */
export function lockName(scope: string, key: string): string {
  const h = fnv64(scope).slice(0, 12);
  return `dpdk-cni/${h}/${key}`;
}

/** The scope of a node's locks: its DPDK_CNI_ROOT, '/' for the real root. */
export function lockScope(root: string): string {
  return root || '/';
}

/** The key of the per-device lock every ADD/DEL/CHECK/GC (and `bind`) of `pci` holds. */
export function deviceLockKey(pci: string): string {
  return `pci/${pci}`;
}

/** The socket name of `pci`'s device lock on the node at `root` (what tests bind to hold it). */
export function deviceLockName(root: string, pci: string): string {
  return lockName(lockScope(root), deviceLockKey(pci));
}

/**
 * Cross-process exclusive locks on abstract unix sockets: binding a name is exclusive and the
 * kernel releases it when the holder exits, even on SIGKILL, so a lock can never go stale and
 * nobody has to "steal" it. All callers of a CNI plugin run in the host network namespace, where
 * the abstract socket names live. `scope` (the DPDK_CNI_ROOT) keeps simulated nodes apart.
 * SysError 'lock-timeout' when the lock is not had within opts.timeoutMs.
 */
export async function acquireLock(scope: string, key: string, opts: LockOptions): Promise<Lock> {
  const name = lockName(scope, key);
  const deadline = Date.now() + opts.timeoutMs;
  let wait = 2;
  for (;;) {
    const srv = await tryBind(name);
    if (srv) return { release: () => srv.close() };
    if (Date.now() >= deadline) {
      throw new SysError('lock-timeout', `could not lock ${opts.what ?? key} within ${opts.timeoutMs} ms: another dpdk-cni operation on ${opts.what ? 'it' : 'this device'} is still running; the runtime should retry`);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, opts.pollMs ?? 50);
  }
}
