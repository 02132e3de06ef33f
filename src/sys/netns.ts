import { closeSync, constants, openSync, readlinkSync, statfsSync } from 'node:fs';

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * Is `path` a live network namespace? A netns path is a bind mount of an nsfs inode (or a
 * /proc/PID/ns/net link). After `ip netns del` or a runtime's cleanup the path is gone or is a
 * plain file on tmpfs, which is what sriov-cni#447 had to learn the hard way; a /proc/PID/ns/net
 * of an exited process is gone. A namespace of another type reached through /proc (/proc/PID/ns/mnt,
 * or a link to it) is not a network namespace either: the kernel names a namespace file opened
 * through /proc "<type>:[inode]" in /proc/self/fd, which tells the type without entering it. (A
 * bind mount shows its own path there; its type would need the NS_GET_NSTYPE ioctl.)
 */
export function isLiveNetns(path: string): boolean {
  return netnsState(path) === 'live';
}

/**
 * 'unknown': the path is there but cannot be inspected (EACCES/EPERM: a /proc/PID/ns/net of a
 * process in a user namespace or under an LSM that denies us). Whoever holds a device through
 * such a netns may be alive: owner checks use netnsMayBeAlive, never taking the device from it.
 */
export function netnsState(path: string): 'live' | 'gone' | 'unknown' {
  if (!path) return 'gone';
  let fd: number | undefined;
  try {
    const t = statfsSync(path).type;
    if (t !== NSFS_MAGIC && !(t === PROC_SUPER_MAGIC && /\/ns\/net$/.test(path))) return 'gone';
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const name = readlinkSync(`/proc/self/fd/${fd}`);
    return !/^[a-z_]+:\[\d+\]$/.test(name) || name.startsWith('net:[') ? 'live' : 'gone';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? 'unknown' : 'gone';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** An owner's netns that is live or cannot be inspected: its device is not taken from it. */
export function netnsMayBeAlive(path: string): boolean {
  return netnsState(path) !== 'gone';
}
