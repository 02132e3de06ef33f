import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, readdirSync, readSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Argv } from 'yargs';
import { untrustedDir } from '../../ipam/ipam.js';
import type { ToolCommand, ToolContext } from '../cli/context.js';
import { isSingleExecutable } from '../cli/runtime.js';
import { err, out as print } from '../cli/out.js';

/**
 * `dpdk-cni install`: copy this very executable into the node's CNI bin directory (the DaemonSet
 * installer). The copy is atomic — a temp file in the target directory, fsync, chmod 0755, rename —
 * so a runtime exec'ing the plugin at that moment runs the old file or the new one, never a partial
 * one, and never gets "text file busy" (the old inode is replaced, not written). A byte-identical
 * target is left alone. `--sleep` then waits for SIGTERM (a DaemonSet container must keep running).
 */

const CHUNK = 1 << 20;
const TMP_PREFIX = '.dpdk-cni-install.';

class InstallError extends Error {}

/** The file this process runs from: the single executable itself, or the bundle node runs. */
export function selfFile(): string {
  // a Node SEA, or a Bun-compiled executable whose script path is virtual (src/cli/runtime.ts)
  if (isSingleExecutable()) return process.execPath;
  const script = process.argv[1];
  if (!script) throw new InstallError('cannot tell which file is running (no script path in argv)');
  return realpathSync(script);
}

/** Byte-for-byte equality, read in chunks (the single executable is ~110 MB). */
export function sameBytes(a: string, b: string): boolean {
  let sb;
  try {
    sb = statSync(b);
  } catch {
    return false;
  }
  const sa = statSync(a);
  if (!sb.isFile() || sa.size !== sb.size) return false;
  if (sa.ino === sb.ino && sa.dev === sb.dev) return true;
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const ba = Buffer.allocUnsafe(CHUNK);
    const bb = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const na = readSync(fa, ba, 0, CHUNK, null);
      const nb = readSync(fb, bb, 0, CHUNK, null);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (ba.compare(bb, 0, nb, 0, na) !== 0) return false;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

function copyAtomic(src: string, dest: string): void {
  const dir = dirname(dest);
  const tmp = join(dir, `${TMP_PREFIX}${basename(dest)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const out = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o700);
  try {
    const inp = openSync(src, 'r');
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const n = readSync(inp, buf, 0, CHUNK, null);
        if (n === 0) break;
        let off = 0;
        while (off < n) off += writeSync(out, buf, off, n - off);
      }
    } finally {
      closeSync(inp);
    }
    fchmodSync(out, 0o755);
    fsyncSync(out);
    closeSync(out);
    renameSync(tmp, dest);
  } catch (e) {
    try {
      closeSync(out);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  // make the rename itself durable
  try {
    const d = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    /* some filesystems refuse fsync on a directory; the rename already happened */
  }
}

/**
 * Temp files a killed installer left behind. Judged by age, not by PID: installers in different
 * containers have separate PID namespaces (each may well be PID 1), and a copy takes seconds.
 */
const STALE_MS = 10 * 60 * 1000;
function removeLeftovers(dir: string): void {
  const now = Date.now();
  for (const e of readdirSync(dir)) {
    if (!e.startsWith(TMP_PREFIX) || !e.endsWith('.tmp')) continue;
    try {
      if (now - lstatSync(join(dir, e)).mtimeMs > STALE_MS) rmSync(join(dir, e), { force: true });
    } catch {
      /* raced with its owner */
    }
  }
}

export type Outcome = 'installed' | 'replaced' | 'up-to-date';

export function installTo(src: string, targetDir: string, name: string): { dest: string; outcome: Outcome } {
  let st;
  try {
    st = statSync(targetDir);
  } catch {
    throw new InstallError(
      `target directory ${targetDir} does not exist: mount the node's CNI bin directory there (hostPath /opt/cni/bin in install-daemonset.yaml) or pass --target`,
    );
  }
  if (!st.isDirectory()) throw new InstallError(`target ${targetDir} is not a directory: pass the CNI bin directory with --target`);
  const why = untrustedDir(targetDir);
  if (why) {
    throw new InstallError(
      `refusing to install into ${targetDir}: ${why}. Whoever can write there chooses what the runtime runs as root, and dpdk-cni refuses to run IPAM plugins from such a CNI_PATH entry; ` +
        'install into a directory only root can change (e.g. chown root:root and chmod 0755 it)',
    );
  }
  const dest = join(targetDir, name);
  removeLeftovers(targetDir);
  let existed = false;
  try {
    existed = statSync(dest).isFile();
  } catch {
    existed = false;
  }
  if (existed && sameBytes(src, dest)) return { dest, outcome: 'up-to-date' };
  try {
    copyAtomic(src, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? ': the directory is not writable by this process (the DaemonSet container must run as UID 0 and the hostPath must not be mounted read-only)'
      : code === 'ENOSPC' ? ': the filesystem is full' : '';
    throw new InstallError(`cannot write ${dest}: ${(e as Error).message}${hint}`);
  }
  return { dest, outcome: existed ? 'replaced' : 'installed' };
}

function mb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

async function sleepUntilSignal(log: (msg: string, extra?: Record<string, unknown>) => void): Promise<void> {
  const timer = setInterval(() => {}, 2 ** 31 - 1);
  const signal = await new Promise<string>((resolve) => {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
  });
  clearInterval(timer);
  log('stopping', { signal });
}

async function run(args: { target: string; name: string; sleep: boolean; check: boolean }, ctx: ToolContext): Promise<void> {
  const out = (line: string) => print(`dpdk-cni install: ${line}\n`);
  let src: string;
  try {
    src = selfFile();
    const dest = join(args.target, args.name);
    if (args.check) {
      const ok = sameBytes(src, dest);
      out(ok ? `${dest} is this executable (${ctx.version})` : `${dest} is missing or differs from this executable (${ctx.version})`);
      ctx.setExitCode(ok ? 0 : 1);
      return;
    }
    const r = installTo(src, args.target, args.name);
    const size = statSync(r.dest).size;
    const what = r.outcome === 'up-to-date' ? `${r.dest} is up to date (byte-identical, ${mb(size)}), left alone` : `${r.outcome} ${r.dest} (${mb(size)}, version ${ctx.version}) from ${src}`;
    out(what);
  } catch (e) {
    err(`dpdk-cni install: ${(e as Error).message}\n`);
    ctx.setExitCode(2);
    return;
  }
  if (!args.sleep) return;
  // Only the DaemonSet's long-running container pays for pino.
  const { pino } = await import('pino');
  const logger = pino({ base: { plugin: 'dpdk-cni', cmd: 'install', pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
  logger.info({ target: join(args.target, args.name), version: ctx.version }, 'installed; sleeping until SIGTERM');
  await sleepUntilSignal((msg, extra) => logger.info(extra ?? {}, msg));
  ctx.setExitCode(0);
}

export const install: ToolCommand = {
  register(y: Argv, ctx: ToolContext): Argv {
    return y.command(
      'install',
      'copy this executable into the CNI bin directory, atomically (DaemonSet installer)',
      (a) =>
        a
          .option('target', { type: 'string', default: '/host/opt/cni/bin', describe: "directory to install into (the node's /opt/cni/bin as mounted in the container)" })
          .option('name', { type: 'string', default: 'dpdk-cni', describe: 'file name in the target directory (the "type" of the network configurations)' })
          .option('sleep', { type: 'boolean', default: false, describe: 'after installing, keep running until SIGTERM/SIGINT (exit 0), for a DaemonSet' })
          .option('check', { type: 'boolean', default: false, describe: 'install nothing: exit 0 if the target is byte-identical to this executable, else 1 (readiness probe)' })
          .check((argv) => {
            if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(argv.name)) throw new Error(`--name ${JSON.stringify(argv.name)} must be a plain file name`);
            if (argv.check && argv.sleep) throw new Error('--check and --sleep cannot be combined');
            return true;
          }),
      (argv) => run({ target: argv.target, name: argv.name, sleep: argv.sleep, check: argv.check }, ctx),
    );
  },
};
