import { statfsSync } from 'node:fs';

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * Is `path` a live network namespace? A netns path is a bind mount of an nsfs inode (or a
 * /proc/PID/ns/net link). After `ip netns del` or a runtime's cleanup the path is gone or is a
 * plain file on tmpfs, which is what sriov-cni#447 had to learn the hard way.
 */
export function isLiveNetns(path: string): boolean {
  if (!path) return false;
  try {
    const t = statfsSync(path).type;
    return t === NSFS_MAGIC || (t === PROC_SUPER_MAGIC && /\/ns\/net$/.test(path));
  } catch {
    return false;
  }
}
