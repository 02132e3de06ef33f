import { MAC_RE, NAME_RE, validateIfName } from '../config/names.js';
import { isBdf } from '../device/pci.js';
import { parseResult } from '../cni/result.js';
import { DEVINFO_DIRS } from '../config/paths.js';
import { deviceInfoNameProblem } from '../deviceinfo/name.js';

/**
 * The state files are read back as input, not trusted: a torn write, a disk error, a hand edit or
 * another release may have left anything in them, and their values become paths, `ip` commands
 * and CNI results. Each reader here checks every field it hands on by the rules that applied when
 * it was written (the netconf's and the kernel's) and says which field is wrong. Plain checks, no
 * schema library: these run on every DEL and CHECK.
 */

/** The only attachment state version this dpdk-cni reads and writes. */
export const STATE_VERSION = 1;

/** PCI addresses are saved lower-cased, as the kernel names them (parseBdf). */
const BDF_LC_RE = /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/;
/** A hardware address as the kernel reports it (20 bytes on InfiniBand): what ADD read, put back by DEL. */
const HWADDR_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){0,31}$/;
/** A sysfs directory entry (driver, vDPA device): one path segment. */
const ENTRY_RE = /^(?!\.\.?$)[^/\0]{1,255}$/;
const MODES = ['dpdk', 'netdev', 'vhost-vdpa', 'virtio-vdpa'];

/** A field that fails its rule: `field` is its path in the file (e.g. "pf.vfIndex"). */
export class FieldProblem extends Error {
  constructor(readonly field: string, readonly why: string) {
    super(`field "${field}" ${why}`);
  }
}

type Obj = Record<string, unknown>;

function fail(field: string, why: string): never {
  throw new FieldProblem(field, why);
}
function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'must be an object');
  return v as Obj;
}
function str(v: unknown, field: string, re?: RegExp, rule?: string): string {
  if (typeof v !== 'string') fail(field, 'must be a string');
  if (re && !re.test(v)) fail(field, `must be ${rule ?? `a string matching ${re.source}`}`);
  return v;
}
function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(field, `must be an integer from ${min} to ${max}`);
  return v;
}
function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail(field, 'must be true or false');
  return v;
}
function oneOf(v: unknown, field: string, allowed: readonly string[]): string {
  if (typeof v !== 'string' || !allowed.includes(v)) fail(field, `must be one of ${allowed.join(', ')}`);
  return v;
}
function opt<T>(o: Obj, k: string, field: string, check: (v: unknown, field: string) => T): void {
  if (o[k] !== undefined) check(o[k], `${field}${k}`);
}
function ifname(v: unknown, field: string): string {
  const s = str(v, field);
  const bad = validateIfName(s);
  if (bad) fail(field, `is not a valid interface name: it ${bad}`);
  return s;
}
function pci(v: unknown, field: string): string {
  const s = str(v, field, BDF_LC_RE, 'a full lower-case PCI address (dddd:bb:dd.f)');
  if (!isBdf(s)) fail(field, 'must be a PCI address');
  return s;
}
function mac(v: unknown, field: string): string {
  return str(v, field, MAC_RE, 'a MAC address (xx:xx:xx:xx:xx:xx)');
}
function hwaddr(v: unknown, field: string): string {
  return str(v, field, HWADDR_RE, 'a hardware address (hex bytes separated by ":")');
}
/** An MTU as an interface may have it (what ADD read from the kernel, or the netconf's). */
function linkMtu(v: unknown, field: string): number {
  return int(v, field, 0, 2 ** 31 - 1);
}
/** An MTU to report for an Ethernet device. */
function mtu(v: unknown, field: string): number {
  return int(v, field, 68, 65535);
}
/** CNI_NETNS as ADD accepted it: an absolute path without NUL, at most PATH_MAX bytes. */
function netnsPath(v: unknown, field: string): string {
  const s = str(v, field);
  if (!s.startsWith('/') || s.includes('\0') || Buffer.byteLength(s) > 4095) fail(field, 'must be an absolute path');
  return s;
}
/** An absolute path without NUL, "." or ".." segments. */
function absPath(v: unknown, field: string): string {
  const s = str(v, field);
  if (!s.startsWith('/') || s.includes('\0') || s.split('/').some((x) => x === '.' || x === '..') || Buffer.byteLength(s) > 4095) {
    fail(field, 'must be an absolute path without "." or ".." segments');
  }
  return s;
}
/** An address with its prefix length (what `ip addr` takes): IPv4 or IPv6, nothing else. */
function cidr(v: unknown, field: string): string {
  return str(v, field, /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)\/[0-9]{1,3}$/, 'an IP address with prefix length');
}
function ip(v: unknown, field: string): string {
  return str(v, field, /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/, 'an IP address');
}
/** A route destination as `ip route` prints it: default or an address with optional prefix. */
function dst(v: unknown, field: string): string {
  return str(v, field, /^(default|([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(\/[0-9]{1,3})?)$/, 'default or an IP prefix');
}
/** A word `ip route` prints for table/proto/scope: letters, digits, '_' and '-'. */
function word(v: unknown, field: string): string {
  return str(v, field, /^[a-zA-Z0-9_-]{1,32}$/, 'a single word (letters, digits, "_", "-")');
}

export function checkKey(v: unknown, field: string): { net: string; containerID: string; ifname: string } {
  const k = obj(v, field);
  return {
    net: str(k.net, `${field}.net`, NAME_RE),
    containerID: str(k.containerID, `${field}.containerID`, NAME_RE),
    ifname: ifname(k.ifname, `${field}.ifname`),
  };
}

function checkVfSettings(v: unknown, field: string, full: boolean): void {
  const s = obj(v, field);
  const f = `${field}.`;
  if (full) {
    hwaddr(s.mac, `${f}mac`);
    int(s.vlan, `${f}vlan`, 0, 4095);
    int(s.qos, `${f}qos`, 0, 7);
    oneOf(s.proto, `${f}proto`, ['802.1q', '802.1ad']);
    int(s.minTx, `${f}minTx`, 0, 2 ** 32 - 1);
    int(s.maxTx, `${f}maxTx`, 0, 2 ** 32 - 1);
  } else {
    opt(s, 'mac', f, mac);
    opt(s, 'vlan', f, (x, n) => int(x, n, 0, 4095));
    opt(s, 'qos', f, (x, n) => int(x, n, 0, 7));
    opt(s, 'proto', f, (x, n) => oneOf(x, n, ['802.1q', '802.1ad']));
    opt(s, 'minTx', f, (x, n) => int(x, n, 0, 2 ** 32 - 1));
    opt(s, 'maxTx', f, (x, n) => int(x, n, 0, 2 ** 32 - 1));
  }
  opt(s, 'spoofchk', f, bool);
  opt(s, 'trust', f, bool);
  opt(s, 'linkState', f, (x, n) => oneOf(x, n, ['auto', 'enable', 'disable']));
}

function checkHostUse(v: unknown, field: string): void {
  const h = obj(v, field);
  if (!Array.isArray(h.addresses)) fail(`${field}.addresses`, 'must be an array');
  h.addresses.forEach((a, i) => cidr(a, `${field}.addresses[${i}]`));
  if (!Array.isArray(h.routes)) fail(`${field}.routes`, 'must be an array');
  h.routes.forEach((r, i) => {
    const f = `${field}.routes[${i}]`;
    const o = obj(r, f);
    dst(o.dst, `${f}.dst`);
    int(o.family, `${f}.family`, 4, 6);
    if (o.family === 5) fail(`${f}.family`, 'must be 4 or 6');
    opt(o, 'gateway', `${f}.`, ip);
    opt(o, 'prefsrc', `${f}.`, ip);
    opt(o, 'metric', `${f}.`, (x, n) => int(x, n, 0, 2 ** 32 - 1));
    opt(o, 'table', `${f}.`, word);
    opt(o, 'protocol', `${f}.`, word);
    opt(o, 'scope', `${f}.`, word);
  });
  opt(h, 'master', `${field}.`, ifname);
}

function checkNetdev(v: unknown, field: string): void {
  const n = obj(v, field);
  const f = `${field}.`;
  ifname(n.hostName, `${f}hostName`);
  ifname(n.tmpName, `${f}tmpName`);
  ifname(n.podName, `${f}podName`);
  hwaddr(n.origMac, `${f}origMac`);
  hwaddr(n.mac, `${f}mac`);
  linkMtu(n.origMtu, `${f}origMtu`);
  linkMtu(n.mtu, `${f}mtu`);
  bool(n.wasUp, `${f}wasUp`);
  opt(n, 'hostUse', f, checkHostUse);
  opt(n, 'id', f, checkNetdevId);
}

/** What identifies the netdev (store.ts NetdevIdentity): compared with what `ip -d` shows, never a path. */
function checkNetdevId(v: unknown, field: string): void {
  const id = obj(v, field);
  const f = `${field}.`;
  opt(id, 'kind', f, (x, n) => str(x, n, /^[a-z0-9_-]{1,32}$/, 'a link kind'));
  opt(id, 'parentbus', f, (x, n) => str(x, n, /^[a-z0-9_-]{1,32}$/, 'a bus name'));
  opt(id, 'parentdev', f, (x, n) => str(x, n, ENTRY_RE, 'a device name (one path segment)'));
  opt(id, 'ifindex', f, (x, n) => int(x, n, 1, 2 ** 31 - 1));
}

/**
 * The device-info path saved at ADD: an absolute path to a file directly in a `cni/` directory
 * with the name ADD's rules give this attachment (deviceinfo/name.ts). Where that `cni/` is (the
 * devinfo base with its node-set symlinks resolved) is checked on disk by undoDeviceInfo before
 * anything is touched.
 */
function checkDeviceInfo(v: unknown, field: string, key: { containerID: string; ifname: string }): void {
  const d = obj(v, field);
  const path = absPath(d.path, `${field}.path`);
  const cut = path.lastIndexOf('/');
  const dir = path.slice(0, cut);
  const name = path.slice(cut + 1);
  const problem = dir.endsWith('/cni') ? deviceInfoNameProblem(`${DEVINFO_DIRS[0]}/cni/${name}`, key.containerID, key.ifname) : 'it is not directly in a cni/ directory';
  if (problem) fail(`${field}.path`, `is not this attachment's device-info file (${problem})`);
  if (d.previous !== undefined && (typeof d.previous !== 'string' || Buffer.byteLength(d.previous) > 64 * 1024)) {
    fail(`${field}.previous`, 'must be a string of at most 64 KiB');
  }
}

/** The netconf saved for IPAM: a JSON object whose ipam.type, if any, is a plugin file name. */
function checkNetconf(v: unknown, field: string): void {
  const s = str(v, field);
  if (Buffer.byteLength(s) > 1 << 20) fail(field, 'is larger than 1 MiB');
  let j: unknown;
  try {
    j = JSON.parse(s);
  } catch {
    fail(field, 'is not JSON');
  }
  const o = obj(j, field);
  if (o.ipam !== undefined) {
    const ipam = obj(o.ipam, `${field} ipam`);
    if (ipam.type !== undefined) str(ipam.type, `${field} ipam.type`, NAME_RE, 'a plugin file name');
  }
}

/**
 * Why a parsed attachment state file cannot be used, or undefined. `key` is the attachment its
 * file name says (the state must be that one's).
 * A `version` this release does not know is not checked here (see stateVersion).
 */
export function attachmentProblem(v: unknown, key: { net: string; containerID: string; ifname: string }): FieldProblem | undefined {
  try {
    const s = obj(v, '(file)');
    if (s.version !== STATE_VERSION) fail('version', `must be ${STATE_VERSION}`);
    oneOf(s.phase, 'phase', ['adding', 'added']);
    const k = checkKey(s.key, 'key');
    if (k.net !== key.net || k.containerID !== key.containerID || k.ifname !== key.ifname) fail('key', 'does not name the attachment of the file name');
    netnsPath(s.netns, 'netns');
    const mode = oneOf(s.mode, 'mode', MODES);
    pci(s.pci, 'pci');
    str(s.driver, 'driver', ENTRY_RE, 'a driver name (one path segment)');
    if (s.pf !== undefined) {
      const pf = obj(s.pf, 'pf');
      pci(pf.pci, 'pf.pci');
      opt(pf, 'netdev', 'pf.', ifname);
      int(pf.vfIndex, 'pf.vfIndex', 0, 65535);
    }
    if (s.vf !== undefined) {
      const vf = obj(s.vf, 'vf');
      checkVfSettings(vf.original, 'vf.original', true);
      checkVfSettings(vf.applied, 'vf.applied', false);
    }
    if (s.netdev !== undefined) {
      if (mode !== 'netdev' && mode !== 'virtio-vdpa') fail('netdev', `must be absent in mode ${mode}`);
      checkNetdev(s.netdev, 'netdev');
    }
    if (s.vdpa !== undefined) {
      const d = obj(s.vdpa, 'vdpa');
      str(d.name, 'vdpa.name', ENTRY_RE, 'a vDPA device name (one path segment)');
      oneOf(d.driver, 'vdpa.driver', ['vhost', 'virtio']);
      opt(d, 'path', 'vdpa.', (x, n) => str(x, n, /^\/dev\/vhost-vdpa-[0-9]{1,9}$/, 'a /dev/vhost-vdpa-N path'));
    }
    checkNetconf(s.netconf, 'netconf');
    bool(s.ipam, 'ipam');
    if (s.deviceInfo !== undefined) checkDeviceInfo(s.deviceInfo, 'deviceInfo', k);
    if (s.result !== undefined) {
      try {
        parseResult(s.result, 'result');
      } catch (e) {
        fail('result', `is not a CNI result (${(e as Error).message})`);
      }
    }
    str(s.createdAt, 'createdAt');
    return undefined;
  } catch (e) {
    if (e instanceof FieldProblem) return e;
    throw e;
  }
}

/** A version number newer than this release's (a later dpdk-cni wrote the file), else undefined. */
export function newerVersion(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const n = (v as Obj).version;
  return typeof n === 'number' && Number.isInteger(n) && n > STATE_VERSION ? n : undefined;
}

/** Why an allocation marker (devices/<pci>.json) cannot be used, or undefined. */
export function markerProblem(v: unknown): FieldProblem | undefined {
  try {
    const m = obj(v, '(file)');
    checkKey(m.key, 'key');
    netnsPath(m.netns, 'netns');
    // kernel modes: the netdev as ADD found it, for a DEL whose attachment state was lost
    if (m.netdev !== undefined) checkNetdev(m.netdev, 'netdev');
    return undefined;
  } catch (e) {
    if (e instanceof FieldProblem) return e;
    throw e;
  }
}

/** Why a known/<pci>.json (what `bind` recorded) cannot be used, or undefined. */
export function lastKnownProblem(v: unknown, forPci: string): FieldProblem | undefined {
  try {
    const k = obj(v, '(file)');
    if (pci(k.pci, 'pci') !== forPci) fail('pci', `must be ${forPci}, the address in the file name`);
    opt(k, 'mac', '', (x, n) => {
      mac(x, n);
      const s = x as string;
      if (Number.parseInt(s.slice(0, 2), 16) & 1) fail(n, 'must be a unicast MAC address');
      if (/^(00:){5}00$/.test(s)) fail(n, 'must not be the all-zero MAC address');
    });
    opt(k, 'mtu', '', mtu);
    opt(k, 'netdev', '', ifname);
    opt(k, 'driver', '', (x, n) => str(x, n, ENTRY_RE, 'a driver name (one path segment)'));
    return undefined;
  } catch (e) {
    if (e instanceof FieldProblem) return e;
    throw e;
  }
}
