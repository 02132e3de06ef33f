import type { Host } from '../sys/host.js';
import { readStateJson, STATE_DIR } from './store.js';

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

/** Undefined when nothing was recorded (or the file is torn); code 107 when the state directory is broken. */
export function lastKnown(host: Host, pci: string): LastKnown | undefined {
  const k = readStateJson<LastKnown>(host, lastKnownFile(host, pci));
  return k && typeof k === 'object' ? k : undefined;
}

export function saveLastKnown(host: Host, k: LastKnown): void {
  host.fs.mkdirp(host.p(`${STATE_DIR}/known`), 0o700);
  host.fs.writeAtomic(lastKnownFile(host, k.pci), JSON.stringify(k), 0o600);
}
