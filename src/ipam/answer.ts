import { CniError, Code } from '../cni/errors.js';
import { isCidr, isIP } from '../cni/ip.js';
import { parseResult, type Result } from '../cni/result.js';
import { atLeast } from '../cni/version.js';

/**
 * An IPAM plugin's ADD answer, checked before any of it is used: its addresses go into `ip addr` /
 * `ip route` in the pod and into the result the runtime and Multus trust. Anything we cannot use
 * is refused with 106 naming the field and quoting at most 80 characters of the bad value — never
 * an ADD that "succeeds" without the addresses IPAM allocated, or with garbage in its result.
 */
export function ipamAnswer(stdout: string, who: string): Result {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    throw bad(who, `is not JSON: ${quote(stdout.trim())}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(who, `is not a JSON object: ${quote(raw)}`);
  const o = raw as Record<string, unknown>;
  const v = o.cniVersion;
  if (v !== undefined && typeof v !== 'string') throw bad(who, `has a cniVersion that is not a string: ${quote(v)}`);
  if (o.ip4 !== undefined || o.ip6 !== undefined || (v !== undefined && !atLeast(v, '0.3.0'))) {
    throw bad(who, `is in the CNI ${v ?? '0.1/0.2'} format (ip4/ip6), which dpdk-cni cannot use: configure the IPAM plugin to answer in CNI 0.3.0 or later (the netconf's cniVersion)`);
  }
  let r: Result;
  try {
    r = parseResult(raw, 'result');
  } catch (e) {
    throw bad(who, `is malformed: ${(e as Error).message}`);
  }
  const problems: string[] = [];
  const check = (field: string, value: string, ok: (s: string) => boolean, what: string) => {
    if (!ok(value)) problems.push(`${field} ${quote(value)} is not ${what}`);
  };
  r.ips.forEach((ip, i) => {
    check(`ips[${i}].address`, ip.address, isCidr, 'an IP address with a prefix length (CIDR)');
    if (ip.gateway !== undefined) check(`ips[${i}].gateway`, ip.gateway, isIP, 'an IP address');
  });
  r.routes.forEach((rt, i) => {
    check(`routes[${i}].dst`, rt.dst, isCidr, 'an IP prefix (CIDR)');
    if (rt.gw !== undefined) check(`routes[${i}].gw`, rt.gw, isIP, 'an IP address');
  });
  (r.dns.nameservers ?? []).forEach((ns, i) => check(`dns.nameservers[${i}]`, ns, isIP, 'an IP address'));
  if (problems.length > 0) throw bad(who, `cannot be used: ${problems.join('; ')}`);
  return r;
}

function bad(who: string, why: string): CniError {
  return new CniError(Code.IpamFailed, `${who} ${why}`);
}

/** JSON-quoted, at most 80 characters (as the netconf's schema errors). */
export function quote(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
