import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import type { Mode, PfInfo } from '../device/classify.js';
import type { VdpaInfo } from '../device/vdpa.js';
import type { VfSettings, VfState } from '../net/vf.js';
import type { Result } from '../cni/result.js';
import type { NetdevState } from '../net/types.js';

import { isBdf } from '../device/pci.js';
import { attachmentProblem, checkKey, markerProblem, newerVersion, STATE_VERSION } from './validate.js';

/** The netdev parts of a state live with the code that acts on them (net/). */
export type { NetdevIdentity, NetdevState } from '../net/types.js';

export const STATE_DIR = '/var/lib/cni/dpdk-cni';

export interface AttachmentKey {
  net: string;
  containerID: string;
  ifname: string;
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
  /**
   * Kernel modes: the netdev as ADD found it and what it set (written before the move, so without
   * the pod ifindex): DEL can put it back from here when the attachment state is lost.
   */
  netdev?: NetdevState;
}

function enc(s: string): string {
  return encodeURIComponent(s).replace(/\./g, '%2E');
}

export function attachmentFile(host: Host, k: AttachmentKey): string {
  // net and containerID cannot contain '@' (their regexes), ifname is encoded: unambiguous.
  return host.p(`${STATE_DIR}/attachments/${k.net}@${k.containerID}@${enc(k.ifname)}.json`);
}

function markerFile(host: Host, pci: string): string {
  return host.p(`${STATE_DIR}/devices/${pci}.json`);
}

export function sameKey(a: AttachmentKey, b: AttachmentKey): boolean {
  return a.net === b.net && a.containerID === b.containerID && a.ifname === b.ifname;
}

/**
 * The first existing directory above `file` (up to the root) that is not a directory: a state
 * directory replaced by a regular file. Reading through it says "not there" (ENOTDIR), which must
 * not pass for "no state" — DEL would report success while an attachment may be held.
 */
function blockedBy(host: Host, file: string): string | undefined {
  for (let d = file.slice(0, file.lastIndexOf('/')); d.length > host.root.length && d !== ''; d = d.slice(0, d.lastIndexOf('/'))) {
    if (host.fs.exists(d)) return host.fs.isDir(d) ? undefined : d;
  }
  return undefined;
}

/** Code 107 naming the path at fault: the blocking non-directory if there is one, else the file. */
function stateError(host: Host, file: string, what: string, e?: unknown): CniError {
  const b = blockedBy(host, file);
  if (b) {
    return new CniError(Code.StateFailed, `state directory ${b} is not a directory: move it out of the way so dpdk-cni can keep its state under ${host.p(STATE_DIR)} (nothing was changed)`);
  }
  return new CniError(Code.StateFailed, `${what} ${file}: ${e instanceof Error ? e.message : String(e)}`);
}

/** Fail with 107 when `dir` (a state directory) or a directory above it is a file. */
function checkDir(host: Host, dir: string): void {
  if (blockedBy(host, `${dir}/.`)) throw stateError(host, `${dir}/.`, 'cannot read');
}

/** The entries of a state directory; none when it does not exist yet, 107 when it is not a directory. */
function entries(host: Host, dir: string): string[] {
  checkDir(host, dir);
  return host.fs.readdir(dir);
}

function ensureDirs(host: Host): void {
  for (const sub of ['attachments', 'devices']) {
    const dir = host.p(`${STATE_DIR}/${sub}`);
    try {
      host.fs.mkdirp(dir, 0o700);
    } catch (e) {
      throw stateError(host, `${dir}/.`, 'cannot create the state directory', e);
    }
  }
}

/**
 * A state file's parsed JSON, `{ torn }` saying why it is not JSON (a torn or corrupt file), or
 * undefined when it does not exist. Code 107 when it cannot be read.
 */
export function readStateRaw(host: Host, file: string): { json: unknown } | { torn: string } | undefined {
  let text: string | undefined;
  try {
    text = host.fs.readText(file);
  } catch (e) {
    // a name too long to exist was never written (saveState refuses it): nothing to read
    if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return undefined;
    // a directory where a state file belongs (made by hand, a bad restore): set aside like a corrupt file
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') return { torn: 'it is a directory, not a file' };
    throw stateError(host, file, 'cannot read', e);
  }
  if (text === undefined) {
    checkDir(host, file.slice(0, file.lastIndexOf('/')));
    return undefined;
  }
  try {
    return { json: JSON.parse(text) as unknown };
  } catch (e) {
    return { torn: text.trim() === '' ? 'it is empty' : `it is not JSON (${(e as Error).message})` };
  }
}

/**
 * A state file that exists but cannot be used (code 107, naming the file): `corrupt` (not JSON, a
 * field that breaks its rule) or `newer` (a `version` a later dpdk-cni wrote). Nothing read from
 * it is used.
 */
export class StateFileError extends CniError {
  constructor(
    readonly file: string,
    readonly kind: 'corrupt' | 'newer',
    readonly problem: string,
    msg: string,
  ) {
    super(Code.StateFailed, msg);
  }
}
Object.defineProperty(StateFileError.prototype, 'name', { value: 'CniError', enumerable: false });

export function isCorruptState(e: unknown): e is StateFileError {
  return e instanceof StateFileError && e.kind === 'corrupt';
}

function corrupt(file: string, problem: string): StateFileError {
  return new StateFileError(file, 'corrupt', problem, `state file ${file} is corrupt: ${problem}; DEL moves it aside (to ${file}.corrupt) and releases what the network configuration names`);
}

function newer(file: string, version: number): StateFileError {
  return new StateFileError(
    file,
    'newer',
    `version ${version}`,
    `state file ${file} has version ${version}, written by a newer dpdk-cni (this one reads version ${STATE_VERSION}): run the dpdk-cni release that wrote it to DEL, CHECK or GC this attachment, or, if that release is gone, undo what the file describes and remove it by hand — guessing would restore the wrong things (nothing was changed)`,
  );
}

/** The state saved at `file` for attachment `k`: undefined when there is none, StateFileError (107) when it cannot be used. */
function readAttachmentFile(host: Host, file: string, k: AttachmentKey): AttachmentState | undefined {
  const raw = readStateRaw(host, file);
  if (!raw) return undefined;
  if ('torn' in raw) throw corrupt(file, raw.torn);
  const v = newerVersion(raw.json);
  if (v !== undefined) throw newer(file, v);
  const bad = attachmentProblem(raw.json, k);
  if (bad) throw corrupt(file, bad.message);
  return raw.json as AttachmentState;
}

/** Move a state file that cannot be used out of the way (never delete evidence); returns its new name. 107 when it cannot be moved. */
export function moveAside(host: Host, file: string): string {
  let to = `${file}.corrupt`;
  if (host.fs.exists(to)) to = `${file}.${new Date().toISOString().replace(/[:.]/g, '-')}.corrupt`;
  try {
    host.fs.rename(file, to);
  } catch (e) {
    throw stateError(host, file, 'cannot move the unusable state file aside', e);
  }
  return to;
}

function writeJson(host: Host, file: string, v: unknown): void {
  ensureDirs(host);
  try {
    host.fs.writeAtomic(file, JSON.stringify(v), 0o600);
  } catch (e) {
    throw stateError(host, file, 'cannot write', e);
  }
}

/** Age after which a temp file whose device cannot be told is removed by GC's sweep. */
const STALE_TMP_MS = 60_000;

/**
 * GC: remove the temp files of atomic writes that killed processes left in the state directories.
 * ADD and DEL never scan a directory (their cost must not grow with the number of attachments);
 * each write or removal deletes its own file's leftover. A temp file is removed only while its
 * device's lock can be had (so a live writer's is never touched, even if a runtime runs GC
 * concurrently with ADD against the spec); one whose device cannot be told is removed once older
 * than STALE_TMP_MS.
 */
export async function sweepStateDirs(host: Host, tryLock: (pci: string) => Promise<{ release(): void } | undefined>): Promise<number> {
  let n = 0;
  for (const sub of ['attachments', 'devices']) {
    const dir = host.p(`${STATE_DIR}/${sub}`);
    for (const name of entries(host, dir)) {
      if (!/^\..+\.tmp$/.test(name)) continue;
      const file = `${dir}/${name}`;
      let pci: string | undefined;
      if (sub === 'devices') pci = /^\.(.+)\.json\.tmp$/.exec(name)?.[1];
      else {
        try {
          pci = (JSON.parse(host.fs.readText(file) ?? '') as { pci?: unknown }).pci as string | undefined;
        } catch {
          pci = undefined;
        }
      }
      if (typeof pci === 'string' && isBdf(pci)) {
        const lock = await tryLock(pci.toLowerCase());
        if (!lock) continue;
        try {
          if (host.fs.remove(file)) n++;
        } finally {
          lock.release();
        }
      } else if (host.fs.ageMs(file) > STALE_TMP_MS && host.fs.remove(file)) {
        n++;
      }
    }
  }
  return n;
}

/**
 * The attachment's saved state, every field checked (state/validate.ts); undefined when there is
 * none. A file that exists but cannot be used throws StateFileError (107, naming the file).
 */
export function readAttachment(host: Host, k: AttachmentKey): AttachmentState | undefined {
  return readAttachmentFile(host, attachmentFile(host, k), k);
}

/** readAttachment for readers that only look (node tools): a file that cannot be used reads as none. */
export function loadState(host: Host, k: AttachmentKey): AttachmentState | undefined {
  try {
    return readAttachment(host, k);
  } catch (e) {
    if (e instanceof StateFileError) return undefined;
    throw e;
  }
}

export function saveState(host: Host, s: AttachmentState): void {
  const file = attachmentFile(host, s.key);
  const name = file.slice(file.lastIndexOf('/') + 1);
  if (Buffer.byteLength(name) > 255) throw nameTooLong(s.key, Buffer.byteLength(name));
  writeJson(host, file, s);
}

/**
 * Code 7 naming what makes the state file name too long. With at most 45 bytes for the encoded
 * interface name and 7 for "@", "@" and ".json", a name over 255 bytes needs a network name or a
 * container ID over 100 bytes: those are named, each with what to do about it.
 */
function nameTooLong(k: AttachmentKey, bytes: number): CniError {
  const show = (v: string) => JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  const long: string[] = [];
  const fix: string[] = [];
  if (Buffer.byteLength(k.net) > 100) {
    long.push(`network name ${show(k.net)} (${Buffer.byteLength(k.net)} bytes)`);
    fix.push('use a shorter network "name"');
  }
  if (Buffer.byteLength(k.containerID) > 100) {
    long.push(`CNI_CONTAINERID ${show(k.containerID)} (${Buffer.byteLength(k.containerID)} bytes)`);
    fix.push('the container runtime must pass a container ID of at most 100 bytes');
  }
  if (long.length === 0) long.push(`network name ${show(k.net)}, CNI_CONTAINERID and interface name ${show(k.ifname)} together`);
  return new CniError(
    Code.InvalidConfig,
    `${long.join(' and ')} ${long.length > 1 ? 'are' : 'is'} too long for a state file name (<network>@<containerID>@<ifname>.json would be ${bytes} bytes, at most 255)${fix.length > 0 ? `: ${fix.join('; ')}` : ''}`,
  );
}

function removeFile(host: Host, file: string): void {
  try {
    host.fs.remove(file);
  } catch (e) {
    throw stateError(host, file, 'cannot remove', e);
  }
}

export function removeState(host: Host, k: AttachmentKey): void {
  removeFile(host, attachmentFile(host, k));
}

/** The allocation marker of `pci`: `{ marker }`, `{ problem }` when the file cannot be used, or undefined when there is none. */
export function readMarker(host: Host, pci: string): { marker: Marker } | { problem: string; file: string } | undefined {
  const file = markerFile(host, pci);
  const raw = readStateRaw(host, file);
  if (!raw) return undefined;
  if ('torn' in raw) return { problem: raw.torn, file };
  const bad = markerProblem(raw.json);
  if (bad) return { problem: bad.message, file };
  const m = raw.json as Marker;
  const marker: Marker = { key: { net: m.key.net, containerID: m.key.containerID, ifname: m.key.ifname }, netns: m.netns };
  if (m.netdev !== undefined) marker.netdev = m.netdev;
  return { marker };
}

/** The allocation marker of `pci`; one that cannot be used is stale (undefined): ADD replaces it. */
export function loadMarker(host: Host, pci: string): Marker | undefined {
  const r = readMarker(host, pci);
  return r && 'marker' in r ? r.marker : undefined;
}

export function saveMarker(host: Host, pci: string, m: Marker): void {
  writeJson(host, markerFile(host, pci), m);
}

/** Remove the marker only if it is this attachment's. */
export function removeMarker(host: Host, pci: string, k: AttachmentKey): void {
  const m = loadMarker(host, pci);
  if (!m || sameKey(m.key, k)) removeFile(host, markerFile(host, pci));
}

/** All allocation markers, by PCI address (GC). */
export function listMarkers(host: Host): Array<{ pci: string; marker: Marker }> {
  const dir = host.p(`${STATE_DIR}/devices`);
  const out: Array<{ pci: string; marker: Marker }> = [];
  for (const f of entries(host, dir)) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const pci = f.slice(0, -'.json'.length);
    const m = loadMarker(host, pci);
    if (m) out.push({ pci, marker: m });
  }
  return out;
}

/** The attachment a state file name stands for (`<net>@<containerID>@<ifname encoded>.json`), if it is one dpdk-cni writes. */
export function keyOfFileName(name: string): AttachmentKey | undefined {
  if (!name.endsWith('.json') || name.startsWith('.')) return undefined;
  const parts = name.slice(0, -'.json'.length).split('@');
  if (parts.length !== 3) return undefined;
  let ifname: string;
  try {
    ifname = decodeURIComponent(parts[2]!);
  } catch {
    return undefined;
  }
  const k = { net: parts[0]!, containerID: parts[1]!, ifname };
  try {
    checkKey(k, 'key');
  } catch {
    return undefined;
  }
  return `${k.net}@${k.containerID}@${enc(k.ifname)}.json` === name ? k : undefined;
}

/** One file of attachments/: its attachment (from the name) and its state, or why it cannot be used. */
export interface ScannedState {
  file: string;
  key: AttachmentKey;
  state?: AttachmentState;
  error?: StateFileError;
}

/** Every attachment state file (GC, doctor); files whose name is not an attachment's are skipped. */
export function scanStates(host: Host): ScannedState[] {
  const dir = host.p(`${STATE_DIR}/attachments`);
  const out: ScannedState[] = [];
  for (const f of entries(host, dir)) {
    const key = keyOfFileName(f);
    if (!key) continue;
    const file = `${dir}/${f}`;
    try {
      const state = readAttachmentFile(host, file, key);
      if (state) out.push({ file, key, state });
    } catch (e) {
      if (!(e instanceof StateFileError)) throw e;
      out.push({ file, key, error: e });
    }
  }
  return out;
}

/** All usable saved attachments (doctor). */
export function stateDirUsable(host: Host): string | undefined {
  try {
    ensureDirs(host);
    checkDir(host, host.p(`${STATE_DIR}/known`));
    const probe = host.p(`${STATE_DIR}/.status-probe.${process.pid}`);
    host.fs.writeAtomic(probe, 'ok', 0o600);
    host.fs.remove(probe);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
