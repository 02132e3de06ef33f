import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import { quote } from '../cni/quote.js';
import { confine, DEVINFO_DIRS, makeParents, readConfined } from '../config/paths.js';
import { DEVINFO_FIELD, deviceInfoNameProblem } from './name.js';
import type { PciDevice } from '../device/classify.js';
import { readAttr } from '../device/sysfs.js';
import type { Logger } from '../log/logger.js';
import type { AttachmentKey, DeviceInfoState } from '../state/store.js';

/**
 * Device-Info spec 1.1.0 (k8snetworkplumbingwg/device-info-spec), written the way the
 * network-attachment-definition-client's Go structs marshal it: compact JSON, fields in struct
 * order, empty fields omitted.
 */
export interface PciInfo {
  'pci-address'?: string;
  'vhost-net'?: string;
  'rdma-device'?: string;
  'pf-pci-address'?: string;
  'representor-device'?: string;
}
export interface VdpaDevInfo {
  'parent-device'?: string;
  driver?: string;
  path?: string;
  'pci-address'?: string;
  'pf-pci-address'?: string;
  'representor-device'?: string;
}
export interface DeviceInfo {
  type: string;
  version: string;
  pci?: PciInfo;
  vdpa?: VdpaDevInfo;
  'vhost-user'?: Record<string, string>;
  memif?: Record<string, string>;
}

const PCI_ORDER = ['pci-address', 'vhost-net', 'rdma-device', 'pf-pci-address', 'representor-device'] as const;
const VDPA_ORDER = ['parent-device', 'driver', 'path', 'pci-address', 'pf-pci-address', 'representor-device'] as const;

function ordered<K extends string>(o: Partial<Record<K, string>> | undefined, order: readonly K[]): Partial<Record<K, string>> | undefined {
  if (!o) return undefined;
  const out: Partial<Record<K, string>> = {};
  for (const k of order) {
    const v = o[k];
    if (typeof v === 'string' && v !== '') out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** app-netutil splits network-status lines on '=' and strips spaces: such values would corrupt it. */
export function safeValue(v: string | undefined): string | undefined {
  return v !== undefined && v !== '' && !/[\s=]/.test(v) ? v : undefined;
}

/** Find a VF's representor netdev when its PF is in switchdev mode (phys_port_name pfXvfN). */
export function findRepresentor(host: Host, dev: PciDevice): string | undefined {
  if (!dev.pf?.netdev) return undefined;
  const sw = readAttr(host, host.p(`/sys/class/net/${dev.pf.netdev}/phys_switch_id`));
  if (!sw) return undefined;
  const want = new RegExp(`^(c\\d+)?pf\\d+vf${dev.pf.vfIndex}$`);
  for (const n of host.fs.readdir(host.p('/sys/class/net'))) {
    if (n === dev.pf.netdev) continue;
    const base = host.p(`/sys/class/net/${n}`);
    if (readAttr(host, `${base}/phys_switch_id`) !== sw) continue;
    const ppn = readAttr(host, `${base}/phys_port_name`);
    if (ppn && want.test(ppn)) return n;
  }
  return undefined;
}

/** Build the device-info for a device, keeping what an existing file (the device plugin's) says. */
export function buildDeviceInfo(dev: PciDevice, existing: DeviceInfo | undefined, representor?: string): DeviceInfo {
  if (dev.vdpa) {
    const v: VdpaDevInfo = { ...existing?.vdpa };
    v['parent-device'] = dev.vdpa.name;
    v.driver = dev.vdpa.driver;
    if (dev.vdpa.path) v.path = dev.vdpa.path;
    else delete v.path;
    v['pci-address'] = dev.pci;
    if (dev.pf) v['pf-pci-address'] = dev.pf.pci;
    if (representor) v['representor-device'] = representor;
    return specOf('vdpa', ordered(sanitize(v), VDPA_ORDER));
  }
  const p: PciInfo = { ...existing?.pci };
  p['pci-address'] = dev.pci;
  if (dev.pf) p['pf-pci-address'] = dev.pf.pci;
  if (representor) p['representor-device'] = representor;
  return specOf('pci', ordered(sanitize(p), PCI_ORDER));
}

/** A spec 1.1.0 file of `type` whose `type` section is `fields` (left out when empty). */
function specOf(type: 'pci' | 'vdpa', fields: Record<string, string> | undefined): DeviceInfo {
  const out: DeviceInfo = { type, version: '1.1.0' };
  if (fields) out[type] = fields;
  return out;
}

function sanitize<T extends object>(o: T): T {
  const out = {} as Record<string, string>;
  for (const [k, v] of Object.entries(o)) {
    const s = safeValue(typeof v === 'string' ? v : undefined);
    if (s) out[k] = s;
  }
  return out as T;
}

export function serialize(d: DeviceInfo): string {
  return JSON.stringify(d);
}

const FIELD = DEVINFO_FIELD;

/**
 * Confine a CNIDeviceInfoFile path from the netconf to Multus' devinfo directories
 * (config/paths.ts rules) and to the name Multus gives this attachment's file (name.ts), and
 * create its missing parent directories (0755).
 */
export function deviceInfoPath(host: Host, file: string, key: AttachmentKey): string {
  const p = confine(host, file, DEVINFO_DIRS, FIELD);
  const bad = deviceInfoNameProblem(file, key.containerID, key.ifname);
  if (bad) throw new CniError(Code.InvalidConfig, bad);
  try {
    makeParents(host, p, FIELD, 0o755);
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(Code.DeviceInfoFailed, `cannot create the directory of device-info file ${quote(file)}: ${(e as Error).message}`);
  }
  return p;
}

/** `file` with the symlinks of its directory resolved (as it is when the directory is missing). */
function canonical(host: Host, file: string): string {
  const cut = file.lastIndexOf('/');
  const dir = host.fs.realpath(file.slice(0, cut));
  return dir === undefined ? file : `${dir}/${file.slice(cut + 1)}`;
}

/**
 * Why the device-info path saved at ADD must not be touched now, or undefined. Checked again at
 * every removal (DEL, GC, rollback): a directory may have been swapped for a symlink since ADD, and
 * a state file is not proof of anything. The path must still be what ADD's rules give for this
 * attachment's name: `<devinfo>/cni/<name>` with real directories below the base, the file a
 * regular single-link file (or gone), the name ending in the attachment's `-<containerID>_<ifName>`.
 */
function savedDeviceInfoProblem(host: Host, saved: string, key: AttachmentKey): string | undefined {
  const name = saved.slice(saved.lastIndexOf('/') + 1);
  let why = `it is not a file directly in ${DEVINFO_DIRS.map((b) => `${b}/cni`).join(' or ')} any more`;
  for (const base of DEVINFO_DIRS) {
    const file = `${base}/cni/${name}`;
    const bad = deviceInfoNameProblem(file, key.containerID, key.ifname);
    if (bad) return bad;
    try {
      // compared with the directories' symlinks resolved: ADD saved the path before it created
      // the base, so a base reached through a node symlink (/var/run -> /run) was saved unresolved
      if (canonical(host, confine(host, file, DEVINFO_DIRS, FIELD)) === canonical(host, saved)) return undefined;
    } catch (e) {
      why = (e as Error).message;
    }
  }
  return why;
}

/**
 * DEL without saved state: the CNIDeviceInfoFile Multus sends on DEL is removed only when it passes
 * what ADD requires of it (the base, real directories, this attachment's name, a regular
 * single-link file) — checked as for a saved path. Anything else is left alone with a warning.
 */
export function removeUnsavedDeviceInfo(host: Host, file: string, key: AttachmentKey, log: Logger): void {
  let p: string;
  try {
    p = confine(host, file, DEVINFO_DIRS, FIELD);
  } catch (e) {
    log.warn(`device-info file ${quote(file)} not removed: ${(e as Error).message}`);
    return;
  }
  const bad = deviceInfoNameProblem(file, key.containerID, key.ifname) ?? savedDeviceInfoProblem(host, p, key);
  if (bad) {
    log.warn(`device-info file ${quote(file)} not removed: ${bad}`);
    return;
  }
  try {
    if (host.fs.remove(p)) log.info('no saved state: removed the device-info file', { file: quote(file) });
  } catch (e) {
    log.warn(`device-info file ${quote(file)} could not be removed: ${(e as Error).message}`);
  }
}

/**
 * What is at a confined device-info path now (Multus' copy of the device plugin's file), read
 * under the path rules: a symlink, hard link, FIFO or device there is refused (code 7) instead of
 * being followed — its content would be kept as "previous" and written back, mode 0444, by a
 * rollback, and Multus would publish it in the pod's network-status.
 */
function readDeviceInfo(host: Host, path: string): string | undefined {
  try {
    return readConfined(host.fs, path, FIELD, 64 * 1024);
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(Code.DeviceInfoFailed, `cannot read device-info file ${quote(path)}: ${(e as Error).message}`);
  }
}

/**
 * The device-info file ADD will write at `path` (already confined by deviceInfoPath) and what is
 * there now: what DEL needs to undo it, read once before anything changes.
 */
export function deviceInfoTarget(host: Host, path: string): DeviceInfoState {
  const previous = readDeviceInfo(host, path);
  return previous === undefined ? { path } : { path, previous };
}

/**
 * Write the device-info file of `target`, keeping what the file that was there (the device
 * plugin's, copied by Multus) says.
 */
export function writeDeviceInfo(host: Host, target: DeviceInfoState, dev: PciDevice, log: Logger): void {
  const { path, previous } = target;
  let existing: DeviceInfo | undefined;
  if (previous !== undefined) {
    try {
      existing = JSON.parse(previous) as DeviceInfo;
    } catch {
      log.warn('existing device-info file is not JSON; replacing it', { file: path });
    }
  }
  const info = buildDeviceInfo(dev, existing, findRepresentor(host, dev));
  try {
    makeParents(host, path, FIELD, 0o755);
    host.fs.writeAtomic(path, serialize(info), 0o444);
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(Code.DeviceInfoFailed, `cannot write device-info file ${quote(path)}: ${(e as Error).message}`);
  }
}

/**
 * DEL: remove the file ADD wrote. Rollback of a failed ADD puts back what was there before. A
 * saved path that fails the re-check (savedDeviceInfoProblem) is left alone with a warning: the
 * pod stays deletable, and nothing outside the devinfo directory is removed or written.
 */
export function undoDeviceInfo(host: Host, st: DeviceInfoState, key: AttachmentKey, restorePrevious: boolean, log: Logger): void {
  const bad = savedDeviceInfoProblem(host, st.path, key);
  if (bad) {
    log.warn(`device-info file ${quote(st.path)} not removed: ${bad}`);
    return;
  }
  if (restorePrevious && st.previous !== undefined) {
    host.fs.writeAtomic(st.path, st.previous, 0o444);
  } else {
    host.fs.remove(st.path);
  }
}
