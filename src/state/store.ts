import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import type { Mode, PfInfo } from '../device/classify.js';
import type { VdpaInfo } from '../device/vdpa.js';
import type { VfSettings, VfState } from '../net/vf.js';
import type { Result } from '../cni/result.js';

export const STATE_DIR = '/var/lib/cni/dpdk-cni';

export interface AttachmentKey {
  net: string;
  containerID: string;
  ifname: string;
}

export interface NetdevState {
  /** name, MAC, MTU and up-state in the host before ADD */
  hostName: string;
  origMac: string;
  origMtu: number;
  wasUp: boolean;
  /** name used while moving (unique per device) */
  tmpName: string;
  /** what ADD configured in the pod */
  podName: string;
  mac: string;
  mtu: number;
}

export interface DeviceInfoState {
  path: string;
  /** the file's content before ADD (a device plugin's file Multus copied), to put back on failure */
  previous?: string;
}

/**
 * Everything DEL needs to undo an ADD, written before the first change (phase "adding") and
 * completed at the end (phase "added"). DEL branches on `mode`, never on re-detection.
 */
export interface AttachmentState {
  version: 1;
  phase: 'adding' | 'added';
  key: AttachmentKey;
  netns: string;
  mode: Mode;
  pci: string;
  driver: string;
  pf?: PfInfo;
  vf?: { original: VfState; applied: VfSettings };
  netdev?: NetdevState;
  vdpa?: VdpaInfo;
  /** the netconf as ADD got it: IPAM DEL/CHECK/GC are run with it */
  netconf: string;
  ipam: boolean;
  deviceInfo?: DeviceInfoState;
  result?: Result;
  createdAt: string;
}

export interface Marker {
  key: AttachmentKey;
  netns: string;
}

function enc(s: string): string {
  return encodeURIComponent(s).replace(/\./g, '%2E');
}

export function attachmentFile(host: Host, k: AttachmentKey): string {
  // net and containerID cannot contain '@' (their regexes), ifname is encoded: unambiguous.
  return host.p(`${STATE_DIR}/attachments/${k.net}@${k.containerID}@${enc(k.ifname)}.json`);
}

export function markerFile(host: Host, pci: string): string {
  return host.p(`${STATE_DIR}/devices/${pci}.json`);
}

export function sameKey(a: AttachmentKey, b: AttachmentKey): boolean {
  return a.net === b.net && a.containerID === b.containerID && a.ifname === b.ifname;
}

function ensureDirs(host: Host): void {
  try {
    host.fs.mkdirp(host.p(`${STATE_DIR}/attachments`), 0o700);
    host.fs.mkdirp(host.p(`${STATE_DIR}/devices`), 0o700);
  } catch (e) {
    throw new CniError(Code.StateFailed, `cannot create the state directory ${host.p(STATE_DIR)}: ${(e as Error).message}`);
  }
}

function readJson<T>(host: Host, file: string): T | undefined {
  let text: string | undefined;
  try {
    text = host.fs.readText(file);
  } catch (e) {
    // a name too long to exist was never written (saveState refuses it): nothing to read
    if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return undefined;
    throw new CniError(Code.StateFailed, `cannot read ${file}: ${(e as Error).message}`);
  }
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    // a torn or corrupt file is treated as missing: DEL stays best-effort
    return undefined;
  }
}

function writeJson(host: Host, file: string, v: unknown): void {
  ensureDirs(host);
  try {
    host.fs.writeAtomic(file, JSON.stringify(v), 0o600);
  } catch (e) {
    throw new CniError(Code.StateFailed, `cannot write ${file}: ${(e as Error).message}`);
  }
}

/**
 * Temp files of atomic writes that a killed process left in the state directories: swept once per
 * process and root, before the first read (Fs.sweepTmp says when one counts as abandoned). Writes
 * and removals sweep their own directory as well, so none accumulate.
 */
const swept = new Set<string>();
function sweepOnce(host: Host): void {
  if (swept.has(host.root)) return;
  swept.add(host.root);
  host.fs.sweepTmp(host.p(`${STATE_DIR}/attachments`));
  host.fs.sweepTmp(host.p(`${STATE_DIR}/devices`));
}

export function loadState(host: Host, k: AttachmentKey): AttachmentState | undefined {
  sweepOnce(host);
  const s = readJson<AttachmentState>(host, attachmentFile(host, k));
  return s && s.version === 1 && typeof s.pci === 'string' ? s : undefined;
}

export function saveState(host: Host, s: AttachmentState): void {
  const file = attachmentFile(host, s.key);
  const name = file.slice(file.lastIndexOf('/') + 1);
  if (Buffer.byteLength(name) > 255) {
    throw new CniError(
      Code.InvalidConfig,
      `network name ${JSON.stringify(s.key.net.length > 40 ? `${s.key.net.slice(0, 37)}...` : s.key.net)}, container ID and interface name are too long together for a state file name (${Buffer.byteLength(name)} bytes, at most 255): use a shorter network "name"`,
    );
  }
  writeJson(host, file, s);
}

export function removeState(host: Host, k: AttachmentKey): void {
  host.fs.remove(attachmentFile(host, k));
}

export function loadMarker(host: Host, pci: string): Marker | undefined {
  const m = readJson<Marker>(host, markerFile(host, pci));
  return m && m.key && typeof m.netns === 'string' ? m : undefined;
}

export function saveMarker(host: Host, pci: string, m: Marker): void {
  writeJson(host, markerFile(host, pci), m);
}

/** Remove the marker only if it is this attachment's. */
export function removeMarker(host: Host, pci: string, k: AttachmentKey): void {
  const m = loadMarker(host, pci);
  if (!m || sameKey(m.key, k)) host.fs.remove(markerFile(host, pci));
}

/** All allocation markers, by PCI address (GC). */
export function listMarkers(host: Host): Array<{ pci: string; marker: Marker }> {
  sweepOnce(host);
  const dir = host.p(`${STATE_DIR}/devices`);
  const out: Array<{ pci: string; marker: Marker }> = [];
  for (const f of host.fs.readdir(dir)) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const pci = f.slice(0, -'.json'.length);
    const m = loadMarker(host, pci);
    if (m) out.push({ pci, marker: m });
  }
  return out;
}

/** All saved attachments (GC, doctor). */
export function listStates(host: Host): AttachmentState[] {
  sweepOnce(host);
  const dir = host.p(`${STATE_DIR}/attachments`);
  const out: AttachmentState[] = [];
  for (const f of host.fs.readdir(dir)) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const s = readJson<AttachmentState>(host, `${dir}/${f}`);
    if (s && s.version === 1) out.push(s);
  }
  return out;
}

export function stateDirUsable(host: Host): string | undefined {
  try {
    ensureDirs(host);
    const probe = host.p(`${STATE_DIR}/.status-probe`);
    host.fs.writeAtomic(probe, 'ok', 0o600);
    host.fs.remove(probe);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
