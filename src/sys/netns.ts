import { realFs, type Fs, type NetnsState } from './fs.js';

/** Is `path` a live network namespace? (how it is told: sys/fs.ts netnsState) */
export function isLiveNetns(path: string, fs: Fs = realFs): boolean {
  return fs.netnsState(path) === 'live';
}

/** 'unknown': the path is there but cannot be inspected (EACCES/EPERM). */
export function netnsState(path: string, fs: Fs = realFs): NetnsState {
  return fs.netnsState(path);
}

/**
 * An owner's netns that is live or cannot be inspected (a /proc/PID/ns/net of a process in a user
 * namespace or under an LSM that denies us): whoever holds a device through it may be alive, so
 * owner checks never take the device from it.
 */
export function netnsMayBeAlive(path: string, fs: Fs = realFs): boolean {
  return fs.netnsState(path) !== 'gone';
}
