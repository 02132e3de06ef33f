import { CniError, Code } from '../cni/errors.js';
import { quote } from '../cni/quote.js';

/** Full PCI address: domain:bus:device.function, e.g. 0000:00:06.0. */
const BDF_RE = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([01][0-9a-fA-F])\.([0-7])$/;

/**
 * A PCI address checked before it is used in any path: only the full BDF form passes (device at
 * most 0x1f), so nothing like "../" or extra segments can reach sysfs. Returns it lower-cased, as
 * the kernel names it; undefined when `raw` is not one. The plugin (parseBdf) and the node tools
 * (tools/bind checkAddress) each say so in their own error.
 */
export function bdfOf(raw: string): string | undefined {
  return BDF_RE.test(raw) ? raw.toLowerCase() : undefined;
}

/** bdfOf for a netconf field: a CniError (invalid config) naming the field when it is not a PCI address. */
export function parseBdf(raw: string, field = 'deviceID'): string {
  const bdf = bdfOf(raw);
  if (bdf === undefined) {
    throw new CniError(
      Code.InvalidConfig,
      `${field} ${quote(raw)} is not a PCI address: expected the full form dddd:bb:dd.f (for example 0000:03:02.1)`,
    );
  }
  return bdf;
}

export function isBdf(raw: string): boolean {
  return BDF_RE.test(raw);
}

/** PCI routing ID (bus << 8 | devfn), for VF index arithmetic. */
export function routingId(bdf: string): number {
  const m = BDF_RE.exec(bdf);
  if (!m) return -1;
  const bus = Number.parseInt(m[2] ?? '0', 16);
  const dev = Number.parseInt(m[3] ?? '0', 16);
  const fn = Number.parseInt(m[4] ?? '0', 10);
  return (bus << 8) | (dev << 3) | fn;
}

/** The PCI address at routing ID `rid` in the domain of `like` (the inverse of routingId). */
export function bdfAt(like: string, rid: number): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${like.slice(0, 4)}:${h((rid >> 8) & 0xff, 2)}:${h((rid >> 3) & 0x1f, 2)}.${rid & 7}`;
}

export function sameDomain(a: string, b: string): boolean {
  return a.slice(0, 4) === b.slice(0, 4);
}
