import { ipJson } from '../net/iproute.js';
import type { Host } from '../sys/host.js';

/**
 * Is a host netdev in use? dpdk-devbind.py refuses to unbind an interface that has routes; we
 * refuse one that is up with addresses or routes. The kernel's own IPv6 link-local address and
 * its fe80::/64 and multicast routes do not count: every interface that is merely up has them.
 */
export interface NetdevUsage {
  /** false when the netdev is not in this network namespace */
  present: boolean;
  up: boolean;
  addresses: string[];
  routes: string[];
}

type Obj = Record<string, unknown>;
const isObj = (o: unknown): o is Obj => typeof o === 'object' && o !== null;

function routeText(r: Obj, family: string): string | undefined {
  const dst = typeof r.dst === 'string' ? r.dst : undefined;
  if (!dst) return undefined;
  if (family === '6' && (/^fe80::/i.test(dst) || /^ff00::/i.test(dst) || dst === 'multicast')) return undefined;
  if (r.type === 'multicast' || r.type === 'local' || r.type === 'broadcast') return undefined;
  return typeof r.gateway === 'string' ? `${dst} via ${r.gateway}` : dst;
}

export function netdevUsage(host: Host, ifname: string): NetdevUsage {
  const link = ipJson(host, ['addr', 'show', 'dev', ifname])?.[0];
  if (!isObj(link)) return { present: false, up: false, addresses: [], routes: [] };
  const flags = Array.isArray(link.flags) ? link.flags : [];
  const addrs = (Array.isArray(link.addr_info) ? link.addr_info : [])
    .filter(isObj)
    .filter((a) => !(a.family === 'inet6' && a.scope === 'link'))
    .map((a) => `${String(a.local)}/${String(a.prefixlen)}`);
  const routes: string[] = [];
  for (const fam of ['4', '6']) {
    for (const r of (ipJson(host, [`-${fam}`, 'route', 'show', 'dev', ifname]) ?? []).filter(isObj)) {
      const t = routeText(r, fam);
      if (t) routes.push(t);
    }
  }
  return { present: true, up: flags.includes('UP'), addresses: addrs, routes };
}

export function inUse(u: NetdevUsage): boolean {
  return u.present && u.up && (u.addresses.length > 0 || u.routes.length > 0);
}

export function usageText(ifname: string, u: NetdevUsage): string {
  const parts: string[] = [];
  if (u.addresses.length > 0) parts.push(`addresses ${u.addresses.join(', ')}`);
  if (u.routes.length > 0) parts.push(`routes ${u.routes.join(', ')}`);
  return `${ifname} is up with ${parts.join(' and ')}`;
}
