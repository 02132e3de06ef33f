import { join } from 'node:path';
import { untrustedDir } from '../../ipam/ipam.js';
import type { Fs } from '../../sys/fs.js';
import { isSingleExecutable } from '../cli/runtime.js';

/**
 * `dpdk-cni install`: copy this very executable into the node's CNI bin directory (the DaemonSet
 * installer). The copy is atomic (Fs.replaceFile: a temp file in the target directory, fsync,
 * chmod 0755, rename), so a runtime exec'ing the plugin at that moment runs the old file or the
 * new one, never a partial one, and never gets "text file busy" (the old inode is replaced, not
 * written). A byte-identical target is left alone.
 */

/** Temp files are `.dpdk-cni-install.<name>.<pid>.<random>.tmp`; a killed installer's are swept by age. */
const TMP_PREFIX = '.dpdk-cni-install.';

class InstallError extends Error {}

/** The file this process runs from: the single executable itself, or the bundle node runs. */
export function selfFile(fs: Fs): string {
  // a Node SEA, or a Bun-compiled executable whose script path is virtual (src/tools/cli/runtime.ts)
  if (isSingleExecutable()) return process.execPath;
  const script = process.argv[1];
  const real = script ? fs.realpath(script) : undefined;
  if (!real) throw new InstallError('cannot tell which file is running (no script path in argv)');
  return real;
}

export type Outcome = 'installed' | 'replaced' | 'up-to-date';

/** Install `src` as `<targetDir>/<name>`, unless a byte-identical file is already there. */
export function installTo(fs: Fs, src: string, targetDir: string, name: string): { dest: string; outcome: Outcome } {
  if (!fs.exists(targetDir)) {
    throw new InstallError(
      `target directory ${targetDir} does not exist: mount the node's CNI bin directory there (hostPath /opt/cni/bin in install-daemonset.yaml) or pass --target`,
    );
  }
  if (!fs.isDir(targetDir)) throw new InstallError(`target ${targetDir} is not a directory: pass the CNI bin directory with --target`);
  const why = untrustedDir(targetDir);
  if (why) {
    throw new InstallError(
      `refusing to install into ${targetDir}: ${why}. Whoever can write there chooses what the runtime runs as root, and dpdk-cni refuses to run IPAM plugins from such a CNI_PATH entry; ` +
        'install into a directory only root can change (e.g. chown root:root and chmod 0755 it)',
    );
  }
  const dest = join(targetDir, name);
  const existed = fs.fileSize(dest) !== undefined;
  if (existed && fs.sameBytes(src, dest)) return { dest, outcome: 'up-to-date' };
  try {
    fs.replaceFile(dest, { copyOf: src }, 0o755, `${TMP_PREFIX}${name}.`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? ': the directory is not writable by this process (the DaemonSet container must run as UID 0 and the hostPath must not be mounted read-only)'
      : code === 'ENOSPC' ? ': the filesystem is full' : '';
    throw new InstallError(`cannot write ${dest}: ${(e as Error).message}${hint}`);
  }
  return { dest, outcome: existed ? 'replaced' : 'installed' };
}
