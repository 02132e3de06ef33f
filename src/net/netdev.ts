import { posix } from 'node:path';
import { fnv64 } from '../sys/hash.js';
import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import { step } from '../sys/fault.js';
import { ipRun, ipRunThenShow, listLinks, showLink, type LinkInfo } from './iproute.js';
import type { HostRoute, NetdevIdentity, NetdevState } from './types.js';
import type { IpConfig, Route } from '../cni/result.js';
import type { Logger } from '../log/logger.js';
import { announceSysctls } from './announce.js';

/** A host-unique temporary name for a device while it moves (derived from its PCI address). */
export function tmpNameFor(pci: string): string {
  return `dcni${fnv64(pci).slice(0, 10)}`;
}

/** Our own network namespace, as a path `ip link set ... netns` accepts from inside a pod. */
function selfNetns(): string {
  return `/proc/${process.pid}/ns/net`;
}

function routeCmd(r: Route, dev: string): string[] {
  const c = ['route', 'add', r.dst];
  if (r.gw) c.push('via', r.gw);
  c.push('dev', dev);
  if (r.mtu) c.push('mtu', String(r.mtu));
  if (r.advmss) c.push('advmss', String(r.advmss));
  if (r.priority) c.push('metric', String(r.priority));
  if (r.table) c.push('table', String(r.table));
  return c;
}

/** Host side of ADD: down, set MAC/MTU, rename to the temporary name, move into the pod. */
export function moveInCommands(st: NetdevState, netns: string): string[][] {
  const c: string[][] = [['link', 'set', 'dev', st.hostName, 'down']];
  if (st.mac !== st.origMac) c.push(['link', 'set', 'dev', st.hostName, 'address', st.mac]);
  if (st.mtu !== st.origMtu) c.push(['link', 'set', 'dev', st.hostName, 'mtu', String(st.mtu)]);
  c.push(['link', 'set', 'dev', st.hostName, 'name', st.tmpName]);
  c.push(['link', 'set', 'dev', st.tmpName, 'netns', netns]);
  return c;
}

/**
 * Pod side of ADD: final name, addresses, up, routes. The addresses come before the link is up, so
 * the kernel announces them on NETDEV_UP (arp_notify, announce.ts); routes need the link up.
 */
export function podSetupCommands(st: NetdevState, ips: IpConfig[], routes: Route[]): string[][] {
  const c: string[][] = [['link', 'set', 'dev', st.tmpName, 'name', st.podName]];
  for (const ip of ips) c.push(['addr', 'add', ip.address, 'dev', st.podName]);
  c.push(['link', 'set', 'dev', st.podName, 'up']);
  for (const r of routes) c.push(routeCmd(r, st.podName));
  return c;
}

/**
 * Move the device in and set it up: one `ip -batch` in the host, one process in the pod (which
 * first sets the announcement sysctls for the addresses' families); returns the device as the pod
 * sees it (for its ifindex there).
 */
export function moveIn(host: Host, st: NetdevState, netns: string, ips: IpConfig[], routes: Route[]): LinkInfo | undefined {
  ipRun(host, moveInCommands(st, netns));
  step('add:netdev-in-pod');
  return ipRunThenShow(host, podSetupCommands(st, ips, routes), st.podName, netns, announceSysctls(st.tmpName, ips));
}

/** What in a host link cannot be given to a link a pod creates (the pod ifindex is added after the move). */
export function identityOf(l: LinkInfo): NetdevIdentity {
  const id: NetdevIdentity = {};
  if (l.kind) id.kind = l.kind;
  if (l.parentbus) id.parentbus = l.parentbus;
  if (l.parentdev) id.parentdev = l.parentdev;
  return id;
}

/**
 * Is `l`, a link in the pod, the device ADD moved in? Never by its name alone: a pod with
 * CAP_NET_ADMIN can rename the device and give its name to a link of its own (a veth whose peer it
 * keeps would then be moved into the host). A PCI parent (or a virtio one) cannot be faked; a
 * device without one is known by its pod ifindex and kind. A state without an ifindex (an older
 * release, an ADD killed before it finished, a marker) falls back to the name, checked against the
 * kind and parent saved at ADD and the MAC ADD set (or `otherMacs`: a later plugin's, from a result).
 */
export function isOurs(l: LinkInfo, st: NetdevState, pci: string, otherMacs: readonly string[] = []): boolean {
  if (l.parentbus === 'pci' && l.parentdev) return l.parentdev === pci;
  const id = st.id;
  if (id?.parentbus && id.parentdev) return l.parentbus === id.parentbus && l.parentdev === id.parentdev;
  if (id && (l.kind !== id.kind || l.parentbus !== undefined)) return false;
  if (id?.ifindex !== undefined) return l.ifindex === id.ifindex;
  const mac = l.mac.toLowerCase();
  return (l.ifname === st.podName || l.ifname === st.tmpName) && [st.mac, ...otherMacs].some((m) => m.toLowerCase() === mac);
}

/** Is `name` taken in the pod? (ADD must refuse an existing CNI_IFNAME.) */
export function podHasLink(host: Host, netns: string, name: string): boolean {
  const links = listLinks(host, netns);
  if (!links) throw new CniError(Code.NetnsFailed, `cannot list links in the network namespace ${netns}`);
  return links.some((l) => l.ifname === name || l.altnames.includes(name));
}

function sameKindAndParent(l: LinkInfo, id: NetdevIdentity, pci: string): boolean {
  if (l.parentbus === 'pci' && l.parentdev) return l.parentdev === pci;
  return l.kind === id.kind && l.parentbus === id.parentbus && l.parentdev === id.parentdev;
}

/**
 * A PCI netdev reports its function (parentbus "pci", parentdev = the address): match on that.
 * Others (virtio-net and virtio-vdpa report parentbus "virtio", parentdev "virtioN"; veth none)
 * are matched by the names we gave them.
 */
function matches(l: LinkInfo, pci: string, names: readonly string[]): boolean {
  if (l.parentbus === 'pci' && l.parentdev) return l.parentdev === pci;
  return names.includes(l.ifname);
}

export interface Located {
  where: 'pod' | 'host';
  name: string;
}

/**
 * Where is the device now? In the pod (under its pod or temporary name), or back in the host
 * (never moved, moved back by a previous DEL, or returned by the kernel when the netns died).
 * In the pod, only the device ADD moved in (isOurs); in the host (where a pod cannot create links),
 * devices that report their PCI parent are matched by it, others by name.
 */
export function locate(host: Host, st: NetdevState, pci: string, netns: string | undefined): Located | undefined {
  if (netns) {
    const pod = listLinks(host, netns) ?? [];
    const l = pod.find((x) => isOurs(x, st, pci));
    if (l) return { where: 'pod', name: l.ifname };
  }
  const links = listLinks(host) ?? [];
  const l =
    links.find((x) => matches(x, pci, [st.tmpName, st.hostName])) ??
    // When a pod's netns dies the kernel hands a physical netdev back to the host under its pod
    // name; one without a PCI parent to match is recognised by that name and the MAC we gave it.
    links.find((x) => x.parentbus !== 'pci' && x.ifname === st.podName && x.mac.toLowerCase() === st.mac.toLowerCase());
  return l ? { where: 'host', name: l.ifname } : undefined;
}

/**
 * What arrived in the host as `name`, for the check against the saved identity. A device saved with
 * a parent (every PCI or virtio netdev) is read from sysfs (`/sys/class/net/NAME/device` and its
 * bus), no process; a link there without a device is a virtual one (never ours). A device saved by
 * its kind alone (a veth standing in for one in tests) needs `ip -d link show`, as does a host
 * whose sysfs does not list the link (a simulated node).
 */
function arrivedLink(host: Host, name: string, id: NetdevIdentity): LinkInfo | undefined {
  if (id.parentbus && id.parentdev) {
    const dir = host.p(`/sys/class/net/${name}`);
    if (host.fs.exists(dir)) {
      const l: LinkInfo = { ifname: name, ifindex: 0, mac: '', mtu: 0, up: false, altnames: [] };
      const dev = host.fs.readlink(`${dir}/device`);
      const bus = dev !== undefined ? host.fs.readlink(`${dir}/device/subsystem`) : undefined;
      if (dev !== undefined) l.parentdev = posix.basename(dev);
      else l.kind = 'virtual link'; // no device: never the netdev ADD moved in
      if (bus !== undefined) l.parentbus = posix.basename(bus);
      return l;
    }
  }
  return showLink(host, name);
}

/**
 * Put the device back in the host under its original name, MAC, MTU and up-state. The pod's side
 * goes by name (iproute2 cannot address a link by index), so what arrives in the host is checked
 * against the saved kind and parent before anything else: a link the pod swapped in under the
 * temporary name in between is sent back to the pod, and the DEL fails for a retry.
 */
export function moveOut(host: Host, st: NetdevState, at: Located, netns: string | undefined, pci: string): void {
  let name = at.name;
  if (at.where === 'pod' && netns) {
    ipRun(host, [
      ['link', 'set', 'dev', name, 'down'],
      ...(name !== st.tmpName ? [['link', 'set', 'dev', name, 'name', st.tmpName]] : []),
      ['link', 'set', 'dev', st.tmpName, 'netns', selfNetns()],
    ], netns);
    name = st.tmpName;
    const arrived = st.id ? arrivedLink(host, name, st.id) : undefined;
    if (arrived && !sameKindAndParent(arrived, st.id ?? {}, pci)) {
      ipRun(host, [['link', 'set', 'dev', name, 'netns', netns]]);
      throw new CniError(Code.NetlinkFailed, `the link that left the pod as ${name} is not the device ADD moved in (${arrived.kind ?? 'physical'}${arrived.parentdev ? ` on ${arrived.parentdev}` : ''}); it was sent back to the pod`);
    }
  }
  const c: string[][] = [['link', 'set', 'dev', name, 'down']];
  if (name !== st.hostName) c.push(['link', 'set', 'dev', name, 'name', st.hostName]);
  if (st.origMac) c.push(['link', 'set', 'dev', st.hostName, 'address', st.origMac]);
  if (st.origMtu) c.push(['link', 'set', 'dev', st.hostName, 'mtu', String(st.origMtu)]);
  if (st.wasUp) c.push(['link', 'set', 'dev', st.hostName, 'up']);
  ipRun(host, c);
}

/**
 * What the host had on the netdev before an ADD with "allowInUse" (addresses, routes, master):
 * put back after moveOut. `replace`, so a retried DEL or a rollback of a device that never moved
 * does not fail on what is already there. The kernel's own prefix routes come back with the
 * addresses, so only the others are added.
 */
export function hostUseCommands(name: string, use: NonNullable<NetdevState['hostUse']>): string[][] {
  const c: string[][] = [];
  if (use.master) c.push(['link', 'set', 'dev', name, 'master', use.master]);
  for (const a of use.addresses) c.push(['addr', 'replace', a, 'dev', name]);
  for (const r of use.routes) {
    if (r.protocol === 'kernel') continue;
    c.push(hostRouteCmd(r, name));
  }
  return c;
}

function hostRouteCmd(r: HostRoute, dev: string): string[] {
  const c = ['route', 'replace', r.dst === 'default' ? (r.family === 6 ? '::/0' : '0.0.0.0/0') : r.dst];
  if (r.nexthops) {
    // a multipath route: the kernel dropped it whole when this netdev left; put every nexthop back
    if (r.metric !== undefined) c.push('metric', String(r.metric));
    if (r.table) c.push('table', r.table);
    if (r.protocol) c.push('proto', r.protocol);
    for (const n of r.nexthops) {
      c.push('nexthop');
      if (n.gateway) c.push('via', n.gateway);
      c.push('dev', n.dev);
      if (n.weight !== undefined) c.push('weight', String(n.weight));
    }
    return c;
  }
  if (r.gateway) c.push('via', r.gateway);
  c.push('dev', dev);
  if (r.metric !== undefined) c.push('metric', String(r.metric));
  if (r.table) c.push('table', r.table);
  if (r.protocol) c.push('proto', r.protocol);
  if (r.scope && !r.gateway) c.push('scope', r.scope);
  if (r.prefsrc) c.push('src', r.prefsrc);
  return c;
}

/**
 * Put back the host's addresses, routes and master (best effort: one batch, else each command on
 * its own). What cannot be restored (a bridge deleted meanwhile, a gateway no longer reachable)
 * is logged, not retried: the netdev itself is back, and a DEL must not fail forever over it.
 */
export function restoreHostUse(host: Host, st: NetdevState, log: Logger): void {
  if (!st.hostUse) return;
  const cmds = hostUseCommands(st.hostName, st.hostUse);
  try {
    ipRun(host, cmds);
    return;
  } catch {
    /* one at a time below, to restore all that can be */
  }
  for (const c of cmds) {
    try {
      ipRun(host, [c]);
    } catch (e) {
      log.warn('could not restore what the host had on the netdev', { netdev: st.hostName, err: (e as Error).message });
    }
  }
}
