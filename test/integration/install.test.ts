import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, copyFileSync, fstatSync, openSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/cni.js';
import { ensureShipped, SHIPPED } from '../helpers/shipped.js';

/**
 * `dpdk-cni install`, the DaemonSet installer: run as a user runs it (the built executable, a real
 * directory), against the bundle (or DPDK_CNI_BIN) and the single executable.
 */
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dirs: Array<{ path: string; cleanup: () => void }> = [];
let procs: ChildProcessWithoutNullStreams[] = [];
function tmp(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d.path;
}
function run(bin: string, args: string[]) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function exited(p: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((res) => p.once('exit', (code, signal) => res({ code, signal })));
}
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

beforeAll(() => {
  ensureShipped();
}, 300_000);
beforeEach(() => {
  dirs = [];
  procs = [];
});
afterEach(async () => {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await exited(p);
    }
  }
  for (const d of dirs) d.cleanup();
});

describe.each([
  ['the bundle', BIN],
  ['the single executable', SHIPPED],
])('install from %s', (_label, SRC) => {
  it('copies itself atomically as dpdk-cni (0755), says so, and leaves a byte-identical file alone', () => {
    const target = tmp('dpdk-cni-bin-');
    const first = run(SRC, ['install', '--target', target]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^dpdk-cni install: installed .*\/dpdk-cni \(.*, version \d+\.\d+\.\d+.*\) from /);
    const dest = join(target, 'dpdk-cni');
    expect(sha(dest)).toBe(sha(SRC));
    expect(statSync(dest).mode & 0o7777).toBe(0o755);
    expect(readdirSync(target)).toEqual(['dpdk-cni']);

    const before = statSync(dest);
    const again = run(SRC, ['install', '--target', target]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/is up to date \(byte-identical.*left alone/);
    const after = statSync(dest);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    expect(run(SRC, ['install', '--check', '--target', target]).code).toBe(0);
    appendFileSync(dest, '\n');
    const check = run(SRC, ['install', '--check', '--target', target]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/differs/);
    const fix = run(SRC, ['install', '--target', target]);
    expect(fix.stdout).toMatch(/replaced/);
    expect(sha(dest)).toBe(sha(SRC));
  });

  it('replaces the file while other processes execute the old one: never "text file busy", never a partial file', async () => {
    const target = tmp('dpdk-cni-bin-');
    const dest = join(target, 'dpdk-cni');
    // Two different builds: A = the artifact, B = the same plus trailing bytes (still runs: a JS
    // comment for the bundle, ignored trailing data for the ELF).
    const A = SRC;
    const B = join(tmp('dpdk-cni-srcB-'), 'dpdk-cni');
    copyFileSync(A, B);
    appendFileSync(B, '\n// build B\n');
    const valid = new Set([sha(A), sha(B)]);
    expect(run(A, ['install', '--target', target]).code).toBe(0);

    // 1. a long-running process of the old file (its stdin held open: VERSION waits for EOF)
    const old = spawn(dest, [], { env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' } });
    procs.push(old);
    let oldOut = '';
    old.stdout.on('data', (d) => (oldOut += d));
    await sleep(300);
    expect(old.exitCode).toBeNull();
    if (SRC === SHIPPED) {
      // the premise: the old file is being executed, so writing it in place (what `cp -f` does) fails
      let err: NodeJS.ErrnoException | undefined;
      try {
        writeFileSync(dest, 'x');
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
      expect(err?.code).toBe('ETXTBSY');
    }

    // 2. a loop exec'ing the file and hashing it, as fast as it can
    const ctl = tmp('dpdk-cni-loop-');
    const stop = join(ctl, 'stop');
    const loop = spawn('bash', ['-c', `
      while [ ! -e "$STOP" ]; do
        out=$(CNI_COMMAND=VERSION "$T" </dev/null 2>"$CTL/err"); rc=$?
        err=$(tr '\\n' ' ' <"$CTL/err")
        h=$(sha256sum "$T" | cut -d' ' -f1)
        printf '%s\\t%s\\t%s\\t%s\\n' "$rc" "$h" "$out" "$err"
      done`], { env: { PATH: process.env.PATH, T: dest, STOP: stop, CTL: ctl } });
    procs.push(loop);
    let lines: string[] = [];
    let buf = '';
    loop.stdout.on('data', (d) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines = lines.concat(parts);
    });

    // 3. replace it over and over, B and A alternately, while the loop runs
    const installs = 8;
    for (let i = 0; i < installs; i++) {
      const seen = lines.length;
      // whoever opened the old file keeps the complete old file: a new inode replaces it
      const fd = openSync(dest, 'r');
      const oldHash = sha(dest);
      const oldIno = fstatSync(fd).ino;
      try {
        const r = run(i % 2 === 0 ? B : A, ['install', '--target', target]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/replaced/);
        expect(statSync(dest).ino).not.toBe(oldIno);
        expect(createHash('sha256').update(readFileSync(fd)).digest('hex')).toBe(oldHash);
      } finally {
        closeSync(fd);
      }
      await until(() => lines.length >= seen + 2, 'the exec loop to run across the replacement');
    }
    writeFileSync(stop, '');
    expect((await exited(loop)).code).toBe(0);

    expect(lines.length).toBeGreaterThanOrEqual(installs * 2);
    const hashes = new Set<string>();
    for (const l of lines) {
      const [rc, h, out, err] = l.split('\t');
      expect({ rc, err }, l).toEqual({ rc: '0', err: '' });
      expect(JSON.parse(out!).supportedVersions).toContain('1.1.0');
      expect(valid.has(h!), `partial or foreign file observed: ${h}`).toBe(true);
      hashes.add(h!);
    }
    expect(hashes.size).toBe(2); // the loop really saw both builds

    // the process started from the first file was never disturbed
    old.stdin.end('{"cniVersion":"1.0.0"}');
    expect(await exited(old)).toEqual({ code: 0, signal: null });
    expect(JSON.parse(oldOut).cniVersion).toBe('1.0.0');
    expect(readdirSync(target)).toEqual(['dpdk-cni']); // no temp files left behind
  }, 300_000);
});

describe('install --sleep (DaemonSet container)', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('installs, keeps running, and exits 0 on %s', async (sig) => {
    const target = tmp('dpdk-cni-bin-');
    const p = spawn(BIN, ['install', '--sleep', '--target', target], { env: { PATH: process.env.PATH } });
    procs.push(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    await until(() => /installed/.test(out) && /sleeping until SIGTERM/.test(err), 'the install line and the sleeping log');
    expect(sha(join(target, 'dpdk-cni'))).toBe(sha(BIN));
    await sleep(700);
    expect(p.exitCode).toBeNull(); // still running
    const t = Date.now();
    p.kill(sig);
    expect(await exited(p)).toEqual({ code: 0, signal: null });
    expect(Date.now() - t).toBeLessThan(3000);
    const logs = err.trim().split('\n').map((l) => JSON.parse(l));
    expect(logs.at(-1)).toMatchObject({ msg: 'stopping', signal: sig, level: 30 });
  });

  it('a missing target directory is an error that says what to mount, and --sleep does not hide it', () => {
    const r = run(BIN, ['install', '--sleep', '--target', '/nonexistent/opt/cni/bin']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/nonexistent\/opt\/cni\/bin does not exist: mount the node's CNI bin directory/);
    expect(r.stdout).toBe('');
  });

  it('cleans up the temp file of an installer killed mid-copy, not one another installer is writing', () => {
    const target = tmp('dpdk-cni-bin-');
    const stale = join(target, '.dpdk-cni-install.dpdk-cni.1.0badf00d.tmp');
    const fresh = join(target, '.dpdk-cni-install.dpdk-cni.1.c0ffee00.tmp');
    writeFileSync(stale, 'half a binary');
    writeFileSync(fresh, 'being written');
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(stale, hourAgo, hourAgo);
    expect(run(BIN, ['install', '--target', target]).code).toBe(0);
    expect(readdirSync(target).sort()).toEqual([basename(fresh), 'dpdk-cni'].sort());
  });
});
