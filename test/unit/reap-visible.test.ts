import { describe, expect, it } from 'vitest';
import { judge, lookAround, mountOf, parseMountinfo } from '../../src/tools/reap/visible.js';

/** What the reaper believes about a netns path that looks gone, from where it runs (src/tools/reap/visible.ts). */
const INFO = [
  '26 1 254:0 / / rw,relatime - overlay overlay rw',
  '44 26 0:25 / /run/netns rw,relatime master:7 - tmpfs tmpfs rw',
  '45 26 0:26 / /var/lib/x rw,relatime - tmpfs tmpfs rw',
  '46 26 0:27 / /with\\040space rw shared:3 - tmpfs tmpfs rw',
].join('\n');
/** the machine as judge() sees it: every path in the given netns state, no symlinks */
const at = (state: 'live' | 'gone' | 'unknown') => ({ netnsState: () => state, realpath: () => undefined });
const gone = at('gone');

describe('reaper netns visibility', () => {
  it('parses mount points and their propagation', () => {
    const m = parseMountinfo(INFO);
    expect(m).toEqual([
      { point: '/', propagates: false },
      { point: '/run/netns', propagates: true },
      { point: '/var/lib/x', propagates: false },
      { point: '/with space', propagates: true },
    ]);
    expect(mountOf(m, '/run/netns')?.point).toBe('/run/netns');
    expect(mountOf(m, '/run/netnsx')?.point).toBe('/');
  });

  it('a gone path under a mount that receives the node\'s mounts is gone; under a private one it is not judged', () => {
    const sight = { hostPid: false, mounts: parseMountinfo(INFO) };
    expect(judge(sight, '/run/netns/cni-1234', gone)).toEqual({ netns: 'gone' });
    expect(judge(sight, '/var/lib/x/ns', gone)).toMatchObject({ netns: 'unknown' });
    expect(judge(sight, '/nowhere/ns', gone)).toMatchObject({ netns: 'unknown' });
  });

  it('/proc/PID/ns/net is judged only in the node\'s PID namespace', () => {
    const mounts = parseMountinfo(INFO);
    expect(judge({ hostPid: false, mounts }, '/proc/4242/ns/net', gone)).toMatchObject({ netns: 'unknown', why: expect.stringContaining('hostPID: true') });
    expect(judge({ hostPid: true, mounts }, '/proc/4242/ns/net', gone)).toEqual({ netns: 'gone' });
  });

  it('live stays live, and a path that cannot be inspected is not judged', () => {
    const sight = { hostPid: true, mounts: parseMountinfo(INFO) };
    expect(judge(sight, '/run/netns/a', at('live'))).toEqual({ netns: 'live' });
    expect(judge(sight, '/run/netns/a', at('unknown'))).toMatchObject({ netns: 'unknown' });
  });

  it('a netns path through a symlinked directory is judged on the mount of its real directory (/var/run -> /run)', () => {
    const sight = { hostPid: false, mounts: parseMountinfo(INFO) };
    const viaVarRun = { netnsState: () => 'gone' as const, realpath: (p: string) => (p === '/var/run/netns' ? '/run/netns' : undefined) };
    expect(judge(sight, '/var/run/netns/cni-1', viaVarRun)).toEqual({ netns: 'gone' });
    expect(judge(sight, '/var/run/netns/cni-1', gone)).toMatchObject({ netns: 'unknown' });
  });

  it('what it cannot read of /proc (permission denied, hidden) is not seen: not hostPID, no mounts, so nothing is judged gone', () => {
    const denied = { readText: () => { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); } };
    const sight = lookAround(denied);
    expect(sight).toEqual({ hostPid: false, mounts: [] });
    expect(judge(sight, '/run/netns/cni-1', gone)).toMatchObject({ netns: 'unknown' });
    expect(judge(sight, '/proc/42/ns/net', gone)).toMatchObject({ netns: 'unknown' });
  });
});
