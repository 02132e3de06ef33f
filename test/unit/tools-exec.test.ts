import { describe, expect, it } from 'vitest';
import { execSync } from '../../src/sys/exec.js';

/**
 * The node tools run other programs with input on stdin (doctor runs the installed plugin with
 * CNI_COMMAND=VERSION). A program that exits without reading its stdin makes the write fail with
 * EPIPE; it still ran, and its own exit status and output are what count, not "cannot start" (127).
 */
describe('execSync', () => {
  it('reports the exit status of a program that exits without reading its stdin', () => {
    const input = JSON.stringify({ cniVersion: '1.1.0', pad: 'x'.repeat(256 * 1024) });
    for (let i = 0; i < 10; i++) {
      const r = execSync('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3'], { input });
      expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    }
  });

  it('still reports a program that cannot be started as 127 with the reason', () => {
    const r = execSync('/nonexistent/dpdk-cni-test-binary', [], { input: '{}' });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('/nonexistent/dpdk-cni-test-binary');
    expect(r.stderr).toContain('ENOENT');
  });
});
