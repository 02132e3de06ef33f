import type { IpConfig } from '../cni/result.js';
import type { Host } from '../sys/host.js';

/**
 * Address announcement in the kernel modes: a pod's IP may have belonged to another MAC a moment
 * ago (a reused lease), so its neighbours must learn the new one at once. The kernel does it with
 * no extra process when the interface's sysctls ask for it before the link comes up:
 *
 * - arp_notify=1: a gratuitous ARP for each IPv4 address the device has on NETDEV_UP (and on a MAC
 *   change), so the addresses are added before the link is set up;
 * - ndisc_notify=1: an unsolicited neighbour advertisement for each IPv6 address once its duplicate
 *   address detection completes (and on NETDEV_UP for addresses that are not tentative).
 *
 * The sysctls belong to the device in the pod's network namespace (a device that changes namespace
 * gets that namespace's defaults), so they are written there, under the name the device has when
 * they are written (they follow a rename).
 */
export function announceSysctls(dev: string, ips: readonly IpConfig[]): string[] {
  const out: string[] = [];
  const addr = (ip: IpConfig) => ip.address.split('/')[0] ?? '';
  if (ips.some((ip) => !addr(ip).includes(':'))) out.push(`/proc/sys/net/ipv4/conf/${dev}/arp_notify`);
  if (ips.some((ip) => addr(ip).includes(':'))) out.push(`/proc/sys/net/ipv6/conf/${dev}/ndisc_notify`);
  return out;
}

/** How long ADD waits for a late carrier before announcing again (sriov-cni waits 200 ms too). */
export const CARRIER_WAIT_MS = 200;
const POLL_MS = 20;

/**
 * In the pod: wait until $1 has carrier (at most CARRIER_WAIT_MS), then set its MAC to $2 — the
 * same MAC: the kernel announces the addresses again on NETDEV_CHANGEADDR (arp_notify,
 * ndisc_notify). Exit 0 either way: an announcement is best-effort, as in sriov-cni.
 */
const CARRIER_SCRIPT = `i=0; while [ $i -lt ${CARRIER_WAIT_MS / POLL_MS} ]; do case "$("$3" -o link show dev "$1" 2>/dev/null)" in *LOWER_UP*) exec "$3" link set dev "$1" address "$2";; esac; sleep 0.0${POLL_MS / 10}; i=$((i+1)); done; exit 0`;

/**
 * A link set up before its carrier came (a real VF can take a moment) sent its gratuitous ARPs
 * into nothing: the kernel drops frames of a device without carrier. One process in the pod waits
 * for the carrier and makes the kernel announce again; nothing runs when the carrier was there.
 */
export function announceAfterCarrier(host: Host, netns: string, dev: string, mac: string): void {
  host.exec(host.tool('nsenter'), [`--net=${netns}`, host.tool('sh'), '-c', CARRIER_SCRIPT, 'sh', dev, mac, host.tool('ip')]);
}
