import { SysError } from './errors.js';

declare const __TEST_HOOKS__: boolean;

const hits = new Map<string, number>();

/**
 * Fault-injection hook for tests. Only in the test build (__TEST_HOOKS__, dist/test/dpdk-cni):
 * DPDK_CNI_TEST_CRASH_AT=<step> kills the process with SIGKILL at that step,
 * DPDK_CNI_TEST_FAIL_AT=<step> makes that step fail. `<step>#N` selects the N-th time the process
 * reaches a step that runs more than once (e.g. fs:tmp-written#2 = the second atomic write).
 * The production build compiles this to nothing.
 */
export function step(name: string): void {
  if (typeof __TEST_HOOKS__ !== 'undefined' && __TEST_HOOKS__) {
    const n = (hits.get(name) ?? 0) + 1;
    hits.set(name, n);
    const at = (v: string | undefined) => v === name || v === `${name}#${n}`;
    if (at(process.env.DPDK_CNI_TEST_CRASH_AT)) process.kill(process.pid, 'SIGKILL');
    if (at(process.env.DPDK_CNI_TEST_FAIL_AT)) throw new SysError('injected', `injected failure at ${name}`);
  }
}
