import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, lockName, pipeBinding } from '../../src/sys/lock.js';
import { SysError } from '../../src/sys/errors.js';

// Device locks are abstract unix socket names: these tests hold a name from another process (as a
// concurrent dpdk-cni would) and check that acquireLock waits, times out with code 11, and gets
// the lock once the holder is gone, even when the holder was SIGKILLed.

const scope = `/tmp/lock-test-${process.pid}`;
let holders: ChildProcess[] = [];
afterEach(() => {
  for (const h of holders) h.kill('SIGKILL');
  holders = [];
  delete process.env.DPDK_CNI_LOCK_IMPL;
});

/** Another process binding the lock's name the way node:net does (bind + listen). */
async function holdElsewhere(key: string): Promise<ChildProcess> {
  const name = lockName(scope, key);
  const p = spawn(process.execPath, ['-e', `require('net').createServer().listen({ path: '\\0' + process.argv[1] }, () => console.log('held'))`, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(p);
  const [line] = (await once(p.stdout!, 'data')) as [Buffer];
  expect(line.toString()).toContain('held');
  return p;
}

describe('acquireLock', () => {
  it('uses the pipe handle on this Node (no node:net load on the CNI path)', () => {
    expect(pipeBinding()).not.toBeNull();
  });

  it.each(['pipe', 'net'])('%s: exclusive within one process; release frees the name', async (impl) => {
    if (impl === 'net') process.env.DPDK_CNI_LOCK_IMPL = 'net';
    const a = await acquireLock(scope, `pci/0000:00:01.${impl === 'net' ? 1 : 0}`, { timeoutMs: 1000 });
    await expect(acquireLock(scope, `pci/0000:00:01.${impl === 'net' ? 1 : 0}`, { timeoutMs: 30 })).rejects.toMatchObject({ kind: 'lock-timeout' });
    a.release();
    const b = await acquireLock(scope, `pci/0000:00:01.${impl === 'net' ? 1 : 0}`, { timeoutMs: 1000 });
    b.release();
  });

  it('a name held by another process: waits, times out (SysError lock-timeout; the verbs answer 11) with a message that says what to do', async () => {
    await holdElsewhere('pci/0000:00:02.0');
    const t0 = Date.now();
    const e = await acquireLock(scope, 'pci/0000:00:02.0', { timeoutMs: 150 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SysError);
    expect((e as SysError).kind).toBe('lock-timeout');
    expect((e as SysError).message).toMatch(/could not lock pci\/0000:00:02\.0 within 150 ms: another dpdk-cni operation .* retry/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('gets the lock as soon as the holder is SIGKILLed (the kernel frees the name: never stale)', async () => {
    const h = await holdElsewhere('pci/0000:00:03.0');
    const waiting = acquireLock(scope, 'pci/0000:00:03.0', { timeoutMs: 5000, pollMs: 10 });
    setTimeout(() => h.kill('SIGKILL'), 100);
    const l = await waiting;
    l.release();
  });

  it('the pipe-handle lock excludes a node:net binder (mixed versions on one node)', async () => {
    const a = await acquireLock(scope, 'pci/0000:00:04.0', { timeoutMs: 1000 });
    // and a process binding it with node:net (what DPDK_CNI_LOCK_IMPL=net and older builds do)
    const child = spawn(process.execPath, ['-e', `require('net').createServer().once('error', (e) => { console.log(e.code); process.exit(0); }).listen({ path: '\\0' + process.argv[1] }, () => { console.log('bound'); process.exit(0); })`, lockName(scope, 'pci/0000:00:04.0')], { stdio: ['ignore', 'pipe', 'inherit'] });
    holders.push(child);
    const [out] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(out.toString().trim()).toBe('EADDRINUSE');
    a.release();
  });
});
