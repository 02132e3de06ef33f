import * as path from 'node:path';
import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';

/**
 * Paths from the netconf are written by namespace users (a NetworkAttachmentDefinition is a
 * namespaced object) and we run as root: every one is confined to a fixed directory.
 */
export const LOG_DIR = '/var/log';
export const DEVINFO_DIRS = ['/var/run/k8s.cni.cncf.io/devinfo', '/run/k8s.cni.cncf.io/devinfo'];

function clean(p: string, field: string): string {
  if (p.includes('\0')) throw new CniError(Code.InvalidConfig, `${field} contains a NUL byte`);
  if (!p.startsWith('/')) throw new CniError(Code.InvalidConfig, `${field} ${JSON.stringify(p)} must be an absolute path`);
  if (p.split('/').some((s) => s === '..' || s === '.')) {
    throw new CniError(Code.InvalidConfig, `${field} ${JSON.stringify(p)} must not contain "." or ".." segments`);
  }
  return path.posix.normalize(p);
}

/**
 * Resolve `p` (a path on the node) under one of `bases` and check that no symlink on the way leads
 * outside: the parent's real path must stay inside the base's real path. Returns the path under
 * the host root. The parent directory is created (mode `dirMode`) when missing.
 */
export function confine(host: Host, p: string, bases: readonly string[], field: string, dirMode: number): string {
  const c = clean(p, field);
  const base = bases.find((b) => c.startsWith(`${b}/`) && c.length > b.length + 1);
  if (!base) {
    throw new CniError(Code.InvalidConfig, `${field} ${JSON.stringify(p)} is not allowed: it must be a file under ${bases.join(' or ')}`);
  }
  const full = host.p(c);
  const parent = path.posix.dirname(full);
  if (!host.fs.isDir(parent)) host.fs.mkdirp(parent, dirMode);
  const realBase = host.fs.realpath(host.p(base));
  const realParent = host.fs.realpath(parent);
  if (!realBase || !realParent || !(realParent === realBase || realParent.startsWith(`${realBase}/`))) {
    throw new CniError(Code.InvalidConfig, `${field} ${JSON.stringify(p)} is not allowed: its directory resolves outside ${base} (symlink?)`);
  }
  return path.posix.join(realParent, path.posix.basename(full));
}
