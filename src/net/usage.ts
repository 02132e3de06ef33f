import { ipJson, ipJsonBatch } from './iproute.js';
import { netdevsIn, pciDir, readInt, vfsOf } from '../device/sysfs.js';
import type { Host } from '../sys/host.js';
import type { HostNexthop, HostRoute, HostUse } from './types.js';

export type { HostNexthop, HostRoute, HostUse };
import { netnsMayBeAlive } from '../sys/netns.js';

/**
 * Is a device in use by the host or by another pod? The one test CNI ADD, `bind`/`unbind`,
 * `inspect`, `doctor` (through `dp-config --check`) and `dp-config` apply. The judging is pure
 * (facts in, reasons out); the facts are read with one `ip -j -d addr show` (every link with its
 * addresses, master and lower device: ADD reads that dump anyway) and one
 * `ip -j route show table all` (both families; the routes through X, multipath ones included) —
 * one `ip -batch` process for both in ADD (hostNet()) —, and from sysfs and the allocation markers.
 *
 * A netdev is used by the host when it has an address that is not link-local (the kernel gives
 * every interface that is up an fe80:: address: that does not count), a route through it (other
 * than the kernel's local/broadcast/multicast and fe80::/64 ones), a master (bridge port, bond
 * slave), or an upper device (macvlan, ipvlan, vlan, macvtap) that carries addresses or has a
 * master itself. An SR-IOV PF is used by pods when one of its VFs is allocated to a pod whose
 * network namespace is alive.
 */


interface UpperUse {
  name: string;
  kind: string;
  addresses: string[];
  master?: string;
}

interface NetdevUsage {
  /** false when the netdev is not in this network namespace */
  present: boolean;
  up: boolean;
  /** addresses other than IPv6 link-local ones, as a/prefixlen */
  addresses: string[];
  routes: HostRoute[];
  /** the bridge or bond it is enslaved to */
  master?: string;
  masterKind?: string;
  /** macvlan/ipvlan/vlan devices on top of it that the host uses */
  uppers: UpperUse[];
}

type Obj = Record<string, unknown>;
const isObj = (o: unknown): o is Obj => typeof o === 'object' && o !== null;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

const UPPER_KINDS = new Set(['macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vlan']);

function kindOf(l: Obj): string | undefined {
  return isObj(l.linkinfo) ? str(l.linkinfo.info_kind) : undefined;
}

function globalAddresses(l: Obj): string[] {
  return (Array.isArray(l.addr_info) ? l.addr_info : [])
    .filter(isObj)
    .filter((a) => typeof a.local === 'string' && !(a.family === 'inet6' && a.scope === 'link'))
    .map((a) => `${String(a.local)}/${String(a.prefixlen)}`);
}

/** A route worth keeping; undefined for the ones the kernel makes by itself on any interface that is up. */
export function parseRoute(r: unknown): HostRoute | undefined {
  if (!isObj(r)) return undefined;
  const dst = str(r.dst);
  if (!dst) return undefined;
  const type = str(r.type);
  if (type && type !== 'unicast') return undefined; // local, broadcast, multicast, anycast, ...
  if (r.table === 'local') return undefined;
  const gateway = str(r.gateway);
  const nexthops = Array.isArray(r.nexthops) ? r.nexthops.filter(isObj).flatMap(parseNexthop) : undefined;
  const v6 = dst.includes(':') || gateway?.includes(':') || nexthops?.some((n) => n.gateway?.includes(':')) || (dst === 'default' && r.pref !== undefined);
  const family: 4 | 6 = v6 ? 6 : 4;
  if (family === 6 && (/^fe80:/i.test(dst) || /^ff00:/i.test(dst) || dst === 'multicast')) return undefined;
  const route: HostRoute = { dst, family };
  if (gateway) route.gateway = gateway;
  if (nexthops && nexthops.length > 0) route.nexthops = nexthops;
  if (typeof r.metric === 'number') route.metric = r.metric;
  const table = r.table === undefined ? undefined : String(r.table);
  if (table && table !== 'main') route.table = table;
  const protocol = str(r.protocol);
  if (protocol) route.protocol = protocol;
  const scope = str(r.scope);
  if (scope) route.scope = scope;
  const prefsrc = str(r.prefsrc);
  if (prefsrc) route.prefsrc = prefsrc;
  return route;
}

function parseNexthop(n: Obj): HostNexthop[] {
  const dev = str(n.dev);
  if (!dev) return [];
  const h: HostNexthop = { dev };
  const gw = str(n.gateway);
  if (gw) h.gateway = gw;
  if (typeof n.weight === 'number') h.weight = n.weight;
  return [h];
}

/**
 * The routes of an `ip -j route show table all` dump that go through `ifname`: its own (`dev`)
 * and the multipath ones with a nexthop on it, which `ip route show dev X` does not list. Pure.
 */
function routesThrough(ifname: string, routes: readonly unknown[]): unknown[] {
  return routes.filter((r) => isObj(r) && (r.dev === ifname || (Array.isArray(r.nexthops) && r.nexthops.some((n) => isObj(n) && n.dev === ifname))));
}

/**
 * The facts about `ifname` from an `ip -j -d addr show` dump of the whole namespace and an
 * `ip -j route show table all` list filtered by routesThrough(). Pure.
 */
export function parseUsage(ifname: string, links: readonly unknown[], routes: readonly unknown[] | undefined): NetdevUsage {
  const link = links.filter(isObj).find((l) => l.ifname === ifname);
  if (!link) return { present: false, up: false, addresses: [], routes: [], uppers: [] };
  const flags = Array.isArray(link.flags) ? link.flags : [];
  const u: NetdevUsage = {
    present: true,
    up: flags.includes('UP'),
    addresses: globalAddresses(link),
    routes: (routes ?? []).map(parseRoute).filter((r): r is HostRoute => r !== undefined),
    uppers: [],
  };
  const master = str(link.master);
  if (master) {
    u.master = master;
    const m = links.filter(isObj).find((l) => l.ifname === master);
    const kind = m ? kindOf(m) : undefined;
    if (kind) u.masterKind = kind;
  }
  for (const l of links.filter(isObj)) {
    const kind = kindOf(l);
    // the lower device of a macvlan/vlan: "link" without "link_netnsid" (a veth peer elsewhere has one)
    if (l.link !== ifname || l.link_netnsid !== undefined || !kind || !UPPER_KINDS.has(kind) || typeof l.ifname !== 'string') continue;
    const up: UpperUse = { name: l.ifname, kind, addresses: globalAddresses(l) };
    const um = str(l.master);
    if (um) up.master = um;
    if (up.addresses.length > 0 || up.master) u.uppers.push(up);
  }
  return u;
}

function routeText(r: HostRoute): string {
  return `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.table ? ` table ${r.table}` : ''}${r.nexthops ? ' (multipath)' : ''}`;
}

/** Why the host uses `ifname`, one reason per kind of use; empty when it does not. Pure. */
export function hostUseReasons(ifname: string, u: NetdevUsage): string[] {
  if (!u.present) return [];
  const out: string[] = [];
  if (u.addresses.length > 0 || u.routes.length > 0) {
    const parts: string[] = [];
    if (u.addresses.length > 0) parts.push(`addresses ${u.addresses.join(', ')}`);
    if (u.routes.length > 0) parts.push(`routes ${u.routes.map(routeText).join(', ')}`);
    out.push(`${ifname} ${u.up ? 'is up with' : 'has'} ${parts.join(' and ')}`);
  }
  if (u.master) out.push(`${ifname} is a port of ${u.masterKind ?? 'master device'} ${u.master}`);
  for (const up of u.uppers) {
    const what = [up.addresses.length > 0 ? `has addresses ${up.addresses.join(', ')}` : '', up.master ? `is a port of ${up.master}` : ''].filter(Boolean).join(' and ');
    out.push(`${up.kind} ${up.name} on ${ifname} ${what}`);
  }
  return out;
}

export function inUse(u: NetdevUsage, ifname = ''): boolean {
  return hostUseReasons(ifname, u).length > 0;
}

/**
 * Read the facts for `ifname` in the current network namespace; `links` = an `ip -j -d addr show`
 * dump already read, `routes` = an `ip -j route show table all` list already read (hostNet()).
 */
export function netdevUsage(host: Host, ifname: string, links?: readonly unknown[], allRoutes?: readonly unknown[]): NetdevUsage {
  const dump = links ?? ipJson(host, ['-d', 'addr', 'show']) ?? [];
  if (!dump.some((l) => isObj(l) && l.ifname === ifname)) return parseUsage(ifname, [], undefined);
  const routes = allRoutes ?? ipJson(host, ['route', 'show', 'table', 'all']);
  return parseUsage(ifname, dump, routes && routesThrough(ifname, routes));
}

/** Every link with its addresses and every route (both families, all tables) of the host's namespace. */
export interface HostNet {
  links: unknown[];
  routes: unknown[] | undefined;
}

/**
 * The in-use test's facts for the whole host namespace in one process: `ip -j -d -batch -` with
 * `addr show` and `route show table all` (the routes' details only add their "type"). When the
 * batch cannot be read, the two commands on their own.
 */
export function hostNet(host: Host): HostNet {
  const both = ipJsonBatch(host, [['addr', 'show'], ['route', 'show', 'table', 'all']], { details: true });
  if (both) return { links: both[0] ?? [], routes: both[1] };
  return { links: ipJson(host, ['-d', 'addr', 'show']) ?? [], routes: ipJson(host, ['route', 'show', 'table', 'all']) };
}

export function hostUseOf(u: NetdevUsage): HostUse | undefined {
  if (u.addresses.length === 0 && u.routes.length === 0 && !u.master) return undefined;
  const h: HostUse = { addresses: u.addresses, routes: u.routes };
  if (u.master) h.master = u.master;
  return h;
}

// --- SR-IOV: VFs of a PF the host uses (those pods hold: state/vf-use.ts) ---

/** A VF of a PF whose netdev the host uses (addresses, routes, master, uppers). */
interface VfHostUse {
  index: number;
  pci: string;
  netdev: string;
  reasons: string[];
}

/**
 * VFs of `pfPci` whose netdev the host uses: rebinding or unbinding the PF destroys every VF, so
 * a VF carrying the host's addresses, routes or a bridge port would vanish with it.
 */
export function vfsUsedByHost(host: Host, pfPci: string): VfHostUse[] {
  const dir = pciDir(host, pfPci);
  const out: VfHostUse[] = [];
  let dump: unknown[] | undefined;
  for (const [index, vf] of vfsOf(host, dir)) {
    for (const nd of netdevsIn(host, pciDir(host, vf))) {
      dump ??= ipJson(host, ['-d', 'addr', 'show']) ?? [];
      const reasons = hostUseReasons(nd, netdevUsage(host, nd, dump));
      if (reasons.length > 0) out.push({ index, pci: vf, netdev: nd, reasons });
    }
  }
  return out;
}

/** Why a PF's VFs used by the host make rebinding it harmful; empty when none is. Pure. */
export function vfHostUseReasons(pfPci: string, vfs: readonly VfHostUse[]): string[] {
  if (vfs.length === 0) return [];
  const list = vfs.map((v) => `VF ${v.index} (${v.pci}) netdev ${v.netdev} is used by the host: ${v.reasons.join('; ')}`);
  return [`SR-IOV PF ${pfPci} has VFs the host uses: ${list.join('; ')}`];
}

/** Number of VFs enabled on a PF (sriov_numvfs); 0 for anything else. */
export function numVfs(host: Host, pci: string): number {
  return readInt(host, `${pciDir(host, pci)}/sriov_numvfs`) ?? 0;
}
