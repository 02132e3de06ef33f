import * as path from 'node:path';
import type { Host } from '../sys/host.js';

/** Read-only sysfs helpers, rooted at the host root (DPDK_CNI_ROOT for a simulated node). */
export const PCI_DEVICES = '/sys/bus/pci/devices';

export function pciDir(host: Host, bdf: string): string {
  return host.p(`${PCI_DEVICES}/${bdf}`);
}

export function readAttr(host: Host, file: string): string | undefined {
  const t = host.fs.readText(file);
  return t === undefined ? undefined : t.trim();
}

export function linkBase(host: Host, link: string): string | undefined {
  const t = host.fs.readlink(link);
  return t === undefined ? undefined : path.posix.basename(t);
}

export function readInt(host: Host, file: string): number | undefined {
  const t = readAttr(host, file);
  if (t === undefined || t === '') return undefined;
  const n = Number.parseInt(t, t.startsWith('0x') ? 16 : 10);
  return Number.isFinite(n) ? n : undefined;
}

/** A PF's VFs from its virtfnN links, in index order: VF index → VF PCI address. `dir` is the PF's device directory (host path). */
export function vfsOf(host: Host, dir: string): Map<number, string> {
  const found: Array<[number, string]> = [];
  for (const e of host.fs.readdir(dir)) {
    const m = /^virtfn(\d+)$/.exec(e);
    const vf = m ? linkBase(host, `${dir}/${e}`) : undefined;
    if (m && vf) found.push([Number(m[1]), vf]);
  }
  return new Map(found.sort((a, b) => a[0] - b[0]));
}

/** Sorted netdev names in a `net/` directory. */
export function netdevsIn(host: Host, dir: string): string[] {
  return host.fs.readdir(`${dir}/net`).sort();
}
