import { CniError, Code } from '../cni/errors.js';

declare const __TEST_HOOKS__: boolean;

/**
 * Fault-injection hook for tests. Only in the test build (__TEST_HOOKS__, dist/test/dpdk-cni):
 * DPDK_CNI_TEST_CRASH_AT=<step> kills the process with SIGKILL at that step,
 * DPDK_CNI_TEST_FAIL_AT=<step> makes that step fail. The production build compiles this to nothing.
 */
export function step(name: string): void {
  if (typeof __TEST_HOOKS__ !== 'undefined' && __TEST_HOOKS__) {
    if (process.env.DPDK_CNI_TEST_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
    if (process.env.DPDK_CNI_TEST_FAIL_AT === name) throw new CniError(Code.Internal, `injected failure at ${name}`);
  }
}
