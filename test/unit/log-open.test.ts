import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { foreignLog } from '../../src/log/open.js';
import { realFs } from '../../src/sys/fs.js';
import { tempDir } from '../helpers/cni.js';

/** The rule that decides whether a logFile is dpdk-cni's own (docs/security.md). */
describe('foreignLog: only a file dpdk-cni created is appended to', () => {
  let dir: { path: string; cleanup: () => void };
  beforeEach(() => {
    dir = tempDir('dpdk-cni-logrule-');
  });
  afterEach(() => dir.cleanup());

  const ours = (msg: string) => `${JSON.stringify({ level: 30, time: 1, pid: 2, hostname: 'n', cmd: 'ADD', plugin: 'dpdk-cni', msg })}\n`;
  function verdict(content: string | Buffer, mode = 0o600): string | undefined {
    const f = join(dir.path, 'f.log');
    writeFileSync(f, content, { mode });
    const fd = openSync(f, 'r');
    try {
      return foreignLog(realFs, fd);
    } finally {
      closeSync(fd);
    }
  }

  it.each<[string, string | Buffer, number]>([
    ['an empty 0600 file (new, or just rotated)', '', 0o600],
    ['dpdk-cni lines only', ours('a') + ours('b'), 0o600],
    ['dpdk-cni lines and the start of one being written', `${ours('a')}{"level":30,"ti`, 0o600],
    ['a large file: only its ends are read', ours('a') + 'x'.repeat(200_000) + '\n' + ours('z'), 0o644],
  ])('accepted: %s', (_what, content, mode) => {
    expect(verdict(content, mode)).toBeUndefined();
  });

  it.each<[string, string | Buffer, number, RegExp]>([
    ['an empty file others can read (e.g. auth.log after rotation, 0640)', '', 0o640, /mode 640/],
    ['a syslog file', 'Dec  6 10:00:01 node sshd[1]: Accepted\n', 0o600, /first line/],
    ['dpdk-cni lines followed by foreign ones', `${ours('a')}Dec  6 sshd[1]: x\n`, 0o600, /last line/],
    ['a binary file (wtmp)', Buffer.from([7, 0, 0, 0, 0x41, 0, 0x0a, 0, 0xff]), 0o600, /first line/],
    ['a JSON line of another program', `${JSON.stringify({ level: 30, msg: 'x' })}\n`, 0o600, /first line/],
    ['dpdk-cni lines, then foreign bytes without a newline', `${ours('a')}garbage`, 0o600, /last line/],
  ])('refused: %s', (_what, content, mode, why) => {
    expect(verdict(content, mode)).toMatch(why);
  });
});
