/**
 * IP address syntax, strict, without node:net (which the hot path does not load): what an IPAM
 * plugin hands us ends up in `ip addr`/`ip route` commands and in the result the runtime trusts.
 */
const V4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const V6_GROUP = /^[0-9A-Fa-f]{1,4}$/;

export function isIPv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((o) => V4_OCTET.test(o));
}

export function isIPv6(s: string): boolean {
  if (s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  let body = s;
  if (s.includes('.')) {
    // an IPv4 tail (::ffff:1.2.3.4) stands for the last two groups
    const last = s.lastIndexOf(':');
    if (last < 0 || !isIPv4(s.slice(last + 1))) return false;
    body = `${s.slice(0, last + 1)}0:0`;
  }
  const gap = body.indexOf('::');
  if (gap !== body.lastIndexOf('::')) return false;
  if (gap < 0) {
    const g = body.split(':');
    return g.length === 8 && g.every((x) => V6_GROUP.test(x));
  }
  const side = (x: string) => (x === '' ? [] : x.split(':'));
  const g = [...side(body.slice(0, gap)), ...side(body.slice(gap + 2))];
  return g.length <= 7 && g.every((x) => V6_GROUP.test(x));
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

/** `address/prefix` with a prefix length that fits the family (decimal, no leading zero). */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(len)) return false;
  if (isIPv4(addr)) return Number(len) <= 32;
  return isIPv6(addr) && Number(len) <= 128;
}
