/**
 * Which runtime this process is, for `install` (which file to copy) and `version --verbose`.
 * A Bun-compiled executable (build/bun.mjs) runs its script from a virtual file system
 * (/$bunfs/root/<name>); the file on disk is the executable itself, process.execPath.
 */
const BUN_VIRTUAL = /^\/\$bunfs\//;

/** The Bun version when Bun runs this process (compiled or not), else undefined. */
export function bunVersion(): string | undefined {
  return process.versions.bun;
}

/** True in a Bun-compiled single executable (not for `bun dist/dpdk-cni`). */
function isBunExecutable(): boolean {
  return bunVersion() !== undefined && BUN_VIRTUAL.test(process.argv[1] ?? '');
}

/** True in a single executable: a Node SEA or a Bun-compiled one. */
export function isSingleExecutable(): boolean {
  return Boolean(process.getBuiltinModule('node:sea')?.isSea()) || isBunExecutable();
}
