import type { Host } from '../sys/host.js';
import type { Logger } from '../log/logger.js';
import { readStateRaw, STATE_DIR } from './store.js';
import { lastKnownProblem } from './validate.js';

/**
 * What a device looked like while it still had a kernel netdev: `dpdk-cni bind` records MAC, MTU
 * and netdev name before it hands the device to a userspace driver, so ADD can report the MAC and
 * MTU of a device that no longer has a netdev (a PF-less NIC on vfio-pci).
 */
export interface LastKnown {
  pci: string;
  mac?: string;
  mtu?: number;
  netdev?: string;
  driver?: string;
}

export function lastKnownFile(host: Host, pci: string): string {
  return host.p(`${STATE_DIR}/known/${pci}.json`);
}

/** The raw record of `pci`, or why it cannot be used (doctor reports it; ADD ignores it). */
export function readLastKnown(host: Host, pci: string): { json: unknown } | { problem: string; file: string } | undefined {
  const file = lastKnownFile(host, pci);
  const raw = readStateRaw(host, file);
  if (!raw) return undefined;
  if ('torn' in raw) return { problem: raw.torn, file };
  const bad = lastKnownProblem(raw.json, pci);
  return bad ? { problem: bad.message, file } : raw;
}

/**
 * What `bind` recorded for `pci`, every field checked (a unicast MAC, an MTU of 68-65535, valid
 * names): undefined when nothing was recorded, or when the file cannot be used — then it is
 * ignored with one warning naming it. Code 107 when the state directory is broken.
 */
export function lastKnown(host: Host, pci: string, log?: Logger): LastKnown | undefined {
  const r = readLastKnown(host, pci);
  if (!r) return undefined;
  if ('problem' in r) {
    log?.warn(`ignoring ${r.file}, what "dpdk-cni bind" recorded for ${pci}: ${r.problem}`, { file: r.file });
    return undefined;
  }
  const k = r.json as LastKnown;
  const out: LastKnown = { pci: k.pci };
  if (k.mac !== undefined) out.mac = k.mac.toLowerCase();
  if (k.mtu !== undefined) out.mtu = k.mtu;
  if (k.netdev !== undefined) out.netdev = k.netdev;
  if (k.driver !== undefined) out.driver = k.driver;
  return out;
}

export function saveLastKnown(host: Host, k: LastKnown): void {
  host.fs.mkdirp(host.p(`${STATE_DIR}/known`), 0o700);
  host.fs.writeAtomic(lastKnownFile(host, k.pci), JSON.stringify(k), 0o600);
}
