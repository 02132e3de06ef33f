import type { IpConfig } from '../cni/result.js';

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
