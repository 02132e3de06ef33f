import { readAttr } from '../../device/sysfs.js';
import type { Host } from '../../sys/host.js';

/**
 * Which processes hold a device's character file open (`/proc/<pid>/fd/*` links), read through
 * the Host (under DPDK_CNI_ROOT on a simulated node). Used before rebinding a device on vfio-pci:
 * while a DPDK application or a VM holds its `/dev/vfio/<group>`, the kernel's unbind does not
 * return until the user lets go (vfio asks it to release the device), and the application loses
 * its NIC under it.
 */
interface Holder {
  pid: number;
  comm?: string;
  path: string;
}

export function holdersOf(host: Host, paths: readonly string[]): Holder[] {
  const wanted = new Set(paths);
  const out: Holder[] = [];
  const proc = host.p('/proc');
  for (const e of host.fs.readdir(proc)) {
    if (!/^\d+$/.test(e)) continue;
    const fdDir = `${proc}/${e}/fd`;
    let fds: string[];
    try {
      fds = host.fs.readdir(fdDir);
    } catch {
      continue; // the process exited, or its fds are not ours to read
    }
    // every wanted file this process holds, once each (a VM may hold the groups of several VFs)
    const held = new Set<string>();
    for (const fd of fds) {
      const target = host.fs.readlink(`${fdDir}/${fd}`);
      if (target !== undefined && wanted.has(target)) held.add(target);
    }
    if (held.size === 0) continue;
    const comm = safeAttr(host, `${proc}/${e}/comm`);
    for (const path of held) out.push({ pid: Number(e), path, ...(comm ? { comm } : {}) });
  }
  return out.sort((a, b) => a.pid - b.pid || a.path.localeCompare(b.path));
}

function safeAttr(host: Host, file: string): string | undefined {
  try {
    return readAttr(host, file);
  } catch {
    return undefined;
  }
}

/** "… is open in process 4242 (dpdk-testpmd), process 77 (qemu)". Pure. */
export function holdersText(holders: readonly Holder[]): string {
  const byPath = new Map<string, string[]>();
  for (const h of holders) byPath.set(h.path, [...(byPath.get(h.path) ?? []), `process ${h.pid}${h.comm ? ` (${h.comm})` : ''}`]);
  return [...byPath].map(([p, who]) => `${p} is open in ${who.join(', ')}`).join('; ');
}
