/**
 * Name rules shared by the netconf, the CNI environment and the state files read back (which must
 * accept exactly what was accepted when they were written). No dependencies: VERSION loads it.
 */

/** Network names, container IDs and plugin file names (libcni's rule; no "/" and no "@"). */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A 6-byte MAC address, xx:xx:xx:xx:xx:xx. */
export const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Names the kernel keeps for itself: /proc/sys/net/ipv{4,6}/conf/{all,default} (an ADD would fail in netlink). */
const RESERVED_IFNAMES = new Set(['all', 'default']);

/**
 * The kernel's rule for interface names (net/core/dev.c dev_valid_name, and the sysctl directories
 * "all" and "default"): 1-15 bytes, not "." or "..", no "/", ":" or byte the kernel's isspace()
 * matches — ASCII 0x09-0x0d and 0x20, and 0xa0 (Latin-1 no-break space, also a byte of UTF-8
 * characters such as "à").
 */
export function validateIfName(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  const bytes = Buffer.from(name);
  if (bytes.length > 15) return `is longer than 15 bytes`;
  if (name === '.' || name === '..') return `must not be "${name}"`;
  if (RESERVED_IFNAMES.has(name)) return `must not be "${name}" (the kernel reserves it for /proc/sys/net/*/conf/${name})`;
  if (/[/:]/.test(name) || bytes.some((b) => (b >= 0x09 && b <= 0x0d) || b === 0x20 || b === 0xa0)) {
    return 'must not contain "/", ":" or whitespace';
  }
  return undefined;
}
