import { CniError, Code } from './errors.js';
import { atLeast } from './version.js';

/** The plugin's internal result: the 1.x shape. Converted to the requested version on output. */
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}
export interface IpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}
export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
export interface Result {
  interfaces: Interface[];
  ips: IpConfig[];
  routes: Route[];
  dns: Dns;
}

export function emptyResult(): Result {
  return { interfaces: [], ips: [], routes: [], dns: {} };
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
function str(x: unknown): string | undefined {
  return typeof x === 'string' && x !== '' ? x : undefined;
}
function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}
function strArr(x: unknown): string[] | undefined {
  return Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : undefined;
}

export function parseDns(x: unknown): Dns {
  if (!isObj(x)) return {};
  const d: Dns = {};
  const ns = strArr(x.nameservers);
  if (ns?.length) d.nameservers = ns;
  const dom = str(x.domain);
  if (dom) d.domain = dom;
  const se = strArr(x.search);
  if (se?.length) d.search = se;
  const op = strArr(x.options);
  if (op?.length) d.options = op;
  return d;
}

/**
 * The netconf's dns merged with what IPAM returned: nameservers, search and options are unioned
 * (the netconf's first, no duplicates), the domain is the netconf's if set, else IPAM's.
 */
export function mergeDns(conf: Dns | undefined, ipam: Dns): Dns {
  const union = (a: string[] | undefined, b: string[] | undefined) => {
    const u = [...new Set([...(a ?? []), ...(b ?? [])])];
    return u.length > 0 ? u : undefined;
  };
  const d: Dns = {};
  const ns = union(conf?.nameservers, ipam.nameservers);
  if (ns) d.nameservers = ns;
  const domain = conf?.domain ?? ipam.domain;
  if (domain) d.domain = domain;
  const search = union(conf?.search, ipam.search);
  if (search) d.search = search;
  const options = union(conf?.options, ipam.options);
  if (options) d.options = options;
  return d;
}

/** `raw[field]`: absent is none; else an array whose entries are objects with a string `key`, each read by `f` (code 6 otherwise). */
function listOf<T>(raw: Record<string, unknown>, field: string, key: string, aKey: string, what: string, f: (o: Record<string, unknown>) => T): T[] {
  const list = raw[field];
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new CniError(Code.DecodeFailure, `${what}.${field} is not an array`);
  return list.map((o: unknown) => {
    if (!isObj(o) || typeof o[key] !== 'string') throw new CniError(Code.DecodeFailure, `${what}.${field} has an entry without ${aKey}`);
    return f(o);
  });
}

/**
 * Parse a result of any supported version (0.3.0-1.1.0), e.g. a prevResult or an IPAM plugin's
 * output, into the internal 1.x shape. `version` of 0.x ips is dropped; unknown keys are ignored.
 */
export function parseResult(raw: unknown, what = 'result'): Result {
  if (!isObj(raw)) throw new CniError(Code.DecodeFailure, `${what} is not a JSON object`);
  const r = emptyResult();
  r.interfaces = listOf(raw, 'interfaces', 'name', 'a name', what, (i) => {
    const itf: Interface = { name: i.name as string };
    const mac = str(i.mac); if (mac) itf.mac = mac;
    const mtu = num(i.mtu); if (mtu) itf.mtu = mtu;
    const sb = str(i.sandbox); if (sb) itf.sandbox = sb;
    const sp = str(i.socketPath); if (sp) itf.socketPath = sp;
    const pci = str(i.pciID); if (pci) itf.pciID = pci;
    return itf;
  });
  r.ips = listOf(raw, 'ips', 'address', 'an address', what, (ip) => {
    const c: IpConfig = { address: ip.address as string };
    const gw = str(ip.gateway); if (gw) c.gateway = gw;
    if (typeof ip.interface === 'number' && Number.isInteger(ip.interface) && ip.interface >= 0) c.interface = ip.interface;
    return c;
  });
  r.routes = listOf(raw, 'routes', 'dst', 'a dst', what, (rt) => {
    const route: Route = { dst: rt.dst as string };
    const gw = str(rt.gw); if (gw) route.gw = gw;
    for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
      const v = num(rt[k]);
      if (v !== undefined) route[k] = v;
    }
    return route;
  });
  r.dns = parseDns(raw.dns);
  return r;
}

function ipVersion(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/** Serialise a result in the requested CNI version (the netconf's cniVersion). */
export function formatResult(r: Result, cniVersion: string): Record<string, unknown> {
  const v1 = atLeast(cniVersion, '1.0.0');
  const out: Record<string, unknown> = { cniVersion };
  if (r.interfaces.length > 0) {
    out.interfaces = r.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (v1 && i.mtu) o.mtu = i.mtu;
      if (i.sandbox) o.sandbox = i.sandbox;
      if (v1 && i.socketPath) o.socketPath = i.socketPath;
      if (v1 && i.pciID) o.pciID = i.pciID;
      return o;
    });
  }
  if (r.ips.length > 0) {
    out.ips = r.ips.map((ip) => {
      const o: Record<string, unknown> = {};
      if (!v1) o.version = ipVersion(ip.address);
      if (ip.interface !== undefined) o.interface = ip.interface;
      o.address = ip.address;
      if (ip.gateway) o.gateway = ip.gateway;
      return o;
    });
  }
  if (r.routes.length > 0) {
    out.routes = r.routes.map((rt) => {
      if (v1) return { ...rt };
      const o: Record<string, unknown> = { dst: rt.dst };
      if (rt.gw) o.gw = rt.gw;
      return o;
    });
  }
  const hasDns = Object.keys(r.dns).length > 0;
  if (hasDns || !v1) out.dns = { ...r.dns };
  return out;
}
