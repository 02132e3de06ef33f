import { CniError, Code, toCniError } from '../cni/errors.js';
import { quote } from '../cni/quote.js';
import type { Ctx, Handler } from '../cni/skel.js';
import { emptyResult, mergeDns, parseResult, type Interface, type Result } from '../cni/result.js';
import { classify, type PciDevice } from '../device/classify.js';
import { readInt, pciDir } from '../device/sysfs.js';
import { execIpam, findPlugin, ipamRefused } from '../ipam/ipam.js';
import { ipJson, ipRun, parseLink, type LinkInfo } from '../net/iproute.js';
import { identityOf, moveIn, podHasLink, tmpNameFor } from '../net/netdev.js';
import { applyCommands, changedSettings, hasSettings, parsePfLink, type VfSettings, type VfState } from '../net/vf.js';
import { deviceInfoPath, deviceInfoTarget, writeDeviceInfo } from '../deviceinfo/spec.js';
import { isLiveNetns, netnsMayBeAlive } from '../sys/netns.js';
import {
  isCorruptState, moveAside, readAttachment, readMarker, removeMarker, saveMarker, saveState, sameKey,
  type AttachmentState, type DeviceInfoState, type Marker, type NetdevState, type StateFileError,
} from '../state/store.js';
import { devicePci, keyOf, lockAttachment, lockDevice, pickMac, release, step, wantedVf } from './common.js';
import { lastKnown, type LastKnown } from '../state/last-known.js';
import { hostUseForAdd, refusePodUse } from './in-use.js';
import { hostNet } from '../net/usage.js';

/**
 * A previous owner that is not using the device any more: put the device back first. We hold the
 * device lock, so no ADD or DEL of this device is running; an owner counts only while its
 * attachment is complete (phase "added") and its pod's network namespace lives. Anything else is a
 * leftover: the pod is gone but its DEL never came, an ADD was killed (or rolled back incompletely)
 * and the runtime saw it fail, or a DEL was killed between removing the state and the marker.
 */
async function healStale(ctx: Ctx, pci: string): Promise<void> {
  const { host, log } = ctx;
  const key = keyOf(ctx);
  const read = readMarker(host, pci);
  if (read && 'problem' in read) log.warn(`allocation marker ${read.file} cannot be used (${read.problem}); treating it as stale: this ADD replaces it`, { file: read.file });
  const marker = read && 'marker' in read ? read.marker : undefined;
  const mine = await readOwnState(ctx);
  if (mine && mine.pci !== pci) {
    throw new CniError(Code.DeviceBusy, `attachment ${key.containerID}/${key.ifname} of network ${key.net} already holds device ${mine.pci}: DEL it first`);
  }
  if (marker && !sameKey(marker.key, key)) await healOtherOwner(ctx, pci, marker);
  if (mine) {
    // ADD repeated for the same attachment without a DEL: undo the first one before redoing it.
    log.warn('ADD repeated for an attachment that exists; releasing the previous one first', { pci });
    const problems = await release(host, ctx.args, mine, log, { assumeNetnsGone: !isLiveNetns(mine.netns, host.fs) });
    if (problems.length > 0) throw new CniError(Code.DeviceBusy, `could not release the previous ADD of this attachment: ${problems.join('; ')}`);
  }
}

/**
 * This attachment's own saved state: a newer release's stays an error (107); a corrupt one is set
 * aside and, as DEL does without a state, its IPAM allocation released with the given netconf.
 */
async function readOwnState(ctx: Ctx): Promise<AttachmentState | undefined> {
  const { host, args, conf, log } = ctx;
  try {
    return readAttachment(host, keyOf(ctx));
  } catch (e) {
    if (!isCorruptState(e)) throw e;
    const to = moveAside(host, e.file);
    log.warn(`state file ${e.file} of this attachment is corrupt (${e.problem}); moved it to ${to}, nothing in it is restored`, { file: e.file, movedTo: to });
    if (conf.ipam) {
      try {
        await execIpam(host, 'DEL', conf.ipam.type, args, conf.raw);
      } catch (err) {
        log.warn('IPAM DEL of the attachment whose state was corrupt failed', { err: (err as Error).message });
      }
    }
    return undefined;
  }
}

/** The device's marker names another attachment: refuse while that one is alive, else release it. */
async function healOtherOwner(ctx: Ctx, pci: string, marker: Marker): Promise<void> {
  const { host, log } = ctx;
  let found: AttachmentState | undefined;
  let unusable: StateFileError | undefined;
  try {
    found = readAttachment(host, marker.key);
  } catch (e) {
    if (!isCorruptState(e)) throw e; // a newer release's owner: 107, never guessed
    unusable = e;
  }
  const holder = `container ${marker.key.containerID} (${marker.key.ifname}, network ${marker.key.net})`;
  if (unusable) {
    // nothing in it can be trusted, its pod may be alive: only a dead netns lets the device go
    if (netnsMayBeAlive(marker.netns, host.fs)) {
      throw new CniError(
        Code.DeviceBusy,
        `PCI device ${pci} is allocated to ${holder} whose network namespace ${marker.netns} is still alive, and its state file ${unusable.file} is corrupt (${unusable.problem}): delete that pod (its DEL sets the file aside) or move the file away by hand`,
      );
    }
    log.warn(`the previous owner's state file ${unusable.file} is corrupt (${unusable.problem}); nothing in it is restored`, { file: unusable.file });
  }
  const owner = found?.pci === pci ? found : undefined;
  if (owner && owner.phase === 'added' && netnsMayBeAlive(owner.netns, host.fs)) {
    throw new CniError(
      Code.DeviceBusy,
      `PCI device ${pci} is already allocated to ${holder} whose network namespace ${owner.netns} is still alive${isLiveNetns(owner.netns, host.fs) ? '' : ' (or cannot be inspected: permission denied, so it is not taken)'}; the device plugin gave the same device twice or the old pod is still terminating`,
    );
  }
  const why = unusable ? 'its attachment state is corrupt and its network namespace is gone' : !owner ? 'its attachment state is gone (a DEL was interrupted)' : owner.phase !== 'added' ? 'its ADD never completed' : 'its pod is gone but its DEL never came';
  log.warn(`healing a stale allocation: ${why}`, { pci, previous: marker.key, netns: marker.netns });
  if (!owner) {
    removeMarker(host, pci, marker.key);
    return;
  }
  // restore() takes the device back from the old netns if that still exists
  const problems = await release(host, ctx.args, owner, log);
  if (problems.length > 0) {
    throw new CniError(Code.DeviceBusy, `PCI device ${pci} was left configured by a previous attachment (${why}) and could not be restored: ${problems.join('; ')}`);
  }
}

const PF_SETTINGS: Array<[keyof VfSettings, string]> = [
  ['vlan', 'vlan'], ['spoofchk', 'spoofchk'], ['trust', 'trust'], ['linkState', 'link_state'], ['minTx', 'min_tx_rate'], ['maxTx', 'max_tx_rate'],
];

/**
 * The settings whose 0 means "none" (no VLAN tag, no rate limit): what a device without a PF has.
 * The netconf rules make vlan 0 imply vlanQoS 0 and 802.1Q. spoofchk, trust and link_state have no
 * value that is certainly what a PF-less device does, so they are never no-ops without a PF.
 */
const NONE_WITHOUT_PF: ReadonlySet<keyof VfSettings> = new Set(['vlan', 'minTx', 'maxTx']);

/** The VF settings to apply through the PF, and the MAC a kernel netdev gets in the pod. */
interface Settings {
  vf: VfSettings;
  netdevMac?: string;
}

/** What ADD decided before changing anything (prepare's answer). */
interface Prepared {
  dev: PciDevice;
  settings: Settings;
  /** the VF as the PF reports it before any change (only when there are VF settings to apply) */
  originalVf?: VfState;
  /** kernel modes: the netdev as found in the host and what the pod gets */
  netdev?: NetdevState;
  /** DPDK and vhost-vdpa: the MTU the result reports */
  mtu?: number;
  /** the device-info file to write and what it held before */
  deviceInfo?: DeviceInfoState;
  /** what `bind` recorded for the device, read at most once */
  known: () => LastKnown | undefined;
}

function isKernel(dev: PciDevice): boolean {
  return dev.mode === 'netdev' || dev.mode === 'virtio-vdpa';
}

export const add: Handler = async (ctx) => {
  const pci = devicePci(ctx.conf);
  // Chained after another plugin: its result is passed through with ours appended. Parsed before
  // anything is touched, so a malformed prevResult fails without IPAM or device churn.
  const chained = prevResultOf(ctx.conf.prevResult);
  // Every mode: a DPDK or vhost-vdpa attachment moves nothing into the pod, but an allocation
  // recorded for a netns that is not alive would be healed away by the next pod's ADD at once.
  if (!isLiveNetns(ctx.args.netns, ctx.host.fs)) {
    throw new CniError(Code.NetnsFailed, `CNI_NETNS ${quote(ctx.args.netns)} is not a live network namespace (gone, not a netns mount, or a namespace of another type): the runtime must pass the pod's network namespace`);
  }
  return holdingLocks(ctx, pci, async () => {
    step('add:locked');
    const prep = await prepare(ctx, pci);
    const st = writeAhead(ctx, prep);
    return applyOrRollBack(ctx, prep, st, chained);
  });
};

/** Run `f` holding the attachment lock (a DEL of it waits for this ADD to finish), then the device lock. */
async function holdingLocks<T>(ctx: Ctx, pci: string, f: () => Promise<T>): Promise<T> {
  const att = await lockAttachment(ctx.host, keyOf(ctx));
  try {
    const lock = await lockDevice(ctx.host, pci);
    try {
      return await f();
    } finally {
      lock.release();
    }
  } finally {
    att.release();
  }
}

/**
 * Everything ADD needs to know, read before anything changes: what the device is, a stale owner
 * healed away, what the device can take (refusing what it cannot and a device in use), the
 * originals DEL puts back, and the device-info file.
 */
async function prepare(ctx: Ctx, pci: string): Promise<Prepared> {
  const { args, conf, host, log } = ctx;
  const known = once(() => lastKnown(host, pci, log));
  const dev = classify(host, pci, conf.vdpaDevice);
  log.debug('device classified', { pci, mode: dev.mode, driver: dev.driver, pf: dev.pf, netdev: dev.netdev, vdpa: dev.vdpa });
  await healStale(ctx, pci);
  const settings = settingsFor(ctx, dev, pickMac(conf, args), known);
  refusePodUse(host, dev);
  const prep: Prepared = { dev, settings, known, originalVf: originalVf(ctx, dev, settings.vf) };
  if (isKernel(dev)) prep.netdev = netdevPlan(ctx, dev, settings.netdevMac);
  else prep.mtu = userspaceMtu(ctx, dev, known);
  if (conf.deviceInfoFile) prep.deviceInfo = deviceInfoTarget(host, deviceInfoPath(host, conf.deviceInfoFile, keyOf(ctx)));
  else log.info('no runtimeConfig.CNIDeviceInfoFile: Multus will not publish device-info for this attachment (add "capabilities": {"CNIDeviceInfoFile": true} and the resourceName annotation)');
  return prep;
}

/** Which settings this device can take; refuse clearly what it cannot. */
function settingsFor(ctx: Ctx, dev: PciDevice, mac: string | undefined, known: () => LastKnown | undefined): Settings {
  const { conf } = ctx;
  const want = wantedVf(conf, mac);
  const kernel = isKernel(dev);
  if (!dev.pf) {
    // Without a PF nothing can be read back, so only the explicit zero/none values are no-ops (the
    // operator renders "vlan":0 and "vlanQoS":0 into every NAD); any other value is refused.
    const none = (k: keyof VfSettings) => NONE_WITHOUT_PF.has(k) && want[k] === 0;
    const bad = PF_SETTINGS.filter(([k]) => want[k] !== undefined && !none(k)).map(([, n]) => n);
    if (conf.vlanQoS && !bad.includes('vlan')) bad.push('vlanQoS');
    if (mac && !kernel) {
      const own = known()?.mac;
      if (own !== mac) bad.push(`mac (${mac})`);
    }
    if (bad.length > 0) {
      throw new CniError(
        Code.NoPf,
        `PCI device ${dev.pci} has no PF (it is not an SR-IOV VF, e.g. a NIC passed through to a VM), so ${bad.join(', ')} cannot be applied: remove ${bad.length > 1 ? 'these settings' : 'this setting'} from the network configuration`,
      );
    }
    return mac && kernel ? { vf: {}, netdevMac: mac } : { vf: {} };
  }
  if (hasSettings(want) && !dev.pf.netdev) {
    throw new CniError(Code.NoPf, `PF ${dev.pf.pci} of VF ${dev.pci} has no netdev, so VF settings cannot be applied through it`);
  }
  return mac && kernel ? { vf: want, netdevMac: mac } : { vf: want };
}

/** The VF's settings as its PF reports them now, when ADD will change some (DEL puts them back). */
function originalVf(ctx: Ctx, dev: PciDevice, vf: VfSettings): VfState | undefined {
  if (!hasSettings(vf) || !dev.pf?.netdev) return undefined;
  const pf = parsePfLink(ipJson(ctx.host, ['-d', 'link', 'show', 'dev', dev.pf.netdev]));
  if (!pf) throw new CniError(Code.NetlinkFailed, `cannot read PF ${dev.pf.netdev} with "ip -d link show": is it in the host network namespace?`);
  const original = pf.vfs.get(dev.pf.vfIndex);
  if (!original) throw new CniError(Code.DeviceNotFound, `PF ${dev.pf.netdev} does not report VF ${dev.pf.vfIndex} (${dev.pci})`);
  return original;
}

/**
 * Kernel modes: the netdev as it is in the host (name, MAC, MTU, identity, what the host uses it
 * for) and what the pod gets. Refuses a netdev not in the host, one the host uses (unless
 * "allowInUse"), and a CNI_IFNAME the pod already has.
 */
function netdevPlan(ctx: Ctx, dev: PciDevice, mac: string | undefined): NetdevState | undefined {
  const { args, conf, host, log } = ctx;
  if (!dev.netdev) return undefined;
  // links with addresses, and routes: the in-use test's facts and the originals, one process
  const { links: dump, routes } = hostNet(host);
  const hostLinks = dump.map(parseLink).filter((x): x is LinkInfo => x !== undefined);
  const l = hostLinks.find((x) => x.ifname === dev.netdev);
  if (!l) throw new CniError(Code.DeviceNotFound, `netdev ${dev.netdev} of ${dev.pci} is not in the host network namespace (still in another pod?)`);
  const hostUse = hostUseForAdd(host, dev.pci, l.ifname, dump, conf.allowInUse === true, routes);
  if (podHasLink(host, args.netns, args.ifName)) {
    throw new CniError(Code.NetnsFailed, `interface ${args.ifName} already exists in the pod network namespace ${args.netns}`);
  }
  const netdev: NetdevState = {
    hostName: l.ifname, origMac: l.mac, origMtu: l.mtu, wasUp: l.up, tmpName: freeTmpName(dev.pci, hostLinks),
    podName: args.ifName, mac: mac ?? l.mac, mtu: conf.mtu ?? l.mtu, id: identityOf(l),
  };
  if (hostUse) {
    netdev.hostUse = hostUse;
    log.warn('taking a netdev the host uses ("allowInUse"); DEL puts its addresses, routes and master back', { netdev: l.ifname, ...hostUse });
  }
  return netdev;
}

/** DPDK and vhost-vdpa: the MTU to report, never above the PF's (the VF cannot exceed it). */
function userspaceMtu(ctx: Ctx, dev: PciDevice, known: () => LastKnown | undefined): number | undefined {
  const { conf, host } = ctx;
  const pfm = dev.pf?.netdev ? readInt(host, `${pciDir(host, dev.pf.pci)}/net/${dev.pf.netdev}/mtu`) : undefined;
  if (conf.mtu !== undefined && pfm !== undefined && conf.mtu > pfm) {
    throw new CniError(Code.UnsupportedField, `field "mtu" ${conf.mtu} is above the MTU of PF ${dev.pf?.netdev} (${pfm}); a ${dev.mode === 'dpdk' ? 'userspace-driven' : 'vhost-vdpa'} VF cannot exceed it — raise the PF MTU or lower "mtu"`);
  }
  return conf.mtu ?? pfm ?? known()?.mtu;
}

/** Write-ahead: the attachment state (phase "adding") is saved before the first change. */
function writeAhead(ctx: Ctx, prep: Prepared): AttachmentState {
  const { args, conf, host } = ctx;
  const { dev } = prep;
  const st: AttachmentState = {
    version: 1, phase: 'adding', key: keyOf(ctx), netns: args.netns, mode: dev.mode, pci: dev.pci, driver: dev.driver,
    netconf: conf.raw, ipam: conf.ipam !== undefined, createdAt: new Date().toISOString(),
  };
  if (dev.pf) st.pf = dev.pf;
  if (prep.originalVf) st.vf = { original: prep.originalVf, applied: prep.settings.vf };
  if (prep.netdev) st.netdev = prep.netdev;
  if (dev.vdpa) st.vdpa = dev.vdpa;
  if (prep.deviceInfo) st.deviceInfo = prep.deviceInfo;
  saveState(host, st);
  return st;
}

/** How far IPAM got: a plugin that refused the ADD itself gets a best-effort DEL in the rollback. */
interface IpamOutcome {
  refused: boolean;
}

/**
 * Apply the attachment; on any failure undo it with release() (the code DEL uses) from the saved
 * state, which keeps the state for DEL when something could not be undone.
 */
async function applyOrRollBack(ctx: Ctx, prep: Prepared, st: AttachmentState, chained: Result): Promise<Result> {
  const { args, host, log } = ctx;
  const ipam: IpamOutcome = { refused: false };
  try {
    return await apply(ctx, prep, st, chained, ipam);
  } catch (e) {
    const err = toCniError(e);
    log.error('ADD failed, rolling back', { err: err.message });
    const problems = await release(host, args, st, log, { restorePreviousDeviceInfo: true, ipamDelBestEffort: ipam.refused });
    if (problems.length > 0) {
      log.error('rollback incomplete; state kept for DEL', { problems });
      err.message += ` (rollback incomplete, DEL will retry: ${problems.join('; ')})`;
    }
    throw err;
  }
}

/** The changes, in order: marker, VF settings, IPAM, the netdev into the pod, device-info, state "added". */
async function apply(ctx: Ctx, prep: Prepared, st: AttachmentState, chained: Result, ipam: IpamOutcome): Promise<Result> {
  const { host, log } = ctx;
  const { dev } = prep;
  saveMarker(host, st.pci, st.netdev ? { key: st.key, netns: st.netns, netdev: st.netdev } : { key: st.key, netns: st.netns });
  step('add:state-saved');
  // what the VF has already is not written (and so not restored); CHECK still verifies all of it
  if (st.vf && dev.pf?.netdev) ipRun(host, applyCommands(dev.pf.netdev, dev.pf.vfIndex, changedSettings(st.vf.applied, st.vf.original), st.vf.original));
  step('add:vf-applied');
  const got = await ipamAdd(ctx, st, ipam);
  if (st.netdev) {
    moveNetdevIn(ctx, st, st.netdev, got);
    step('add:netdev-moved');
  }
  if (st.deviceInfo) {
    writeDeviceInfo(host, st.deviceInfo, dev, log);
    step('add:devinfo-written');
  }
  const result = resultOf(ctx, prep, st, chained, got);
  st.result = result;
  st.phase = 'added';
  saveState(host, st);
  step('add:state-added');
  const ours = result.interfaces[result.interfaces.length - 1];
  log.info('attached', { pci: st.pci, mode: dev.mode, driver: dev.driver, pf: dev.pf?.netdev, vf: dev.pf?.vfIndex, netns: st.netns, mac: ours?.mac, mtu: ours?.mtu, ips: got.ips.map((i) => i.address) });
  return result;
}

/** The delegated IPAM plugin's ADD answer (an empty result without "ipam"). */
async function ipamAdd(ctx: Ctx, st: AttachmentState, outcome: IpamOutcome): Promise<Result> {
  const { args, conf, host } = ctx;
  if (!conf.ipam) return emptyResult();
  try {
    findPlugin(host, conf.ipam.type, args.path);
  } catch (e) {
    st.ipam = false; // nothing was started, nothing to release
    throw e;
  }
  // From here on the rollback runs IPAM DEL whatever the answer: a plugin that failed, timed
  // out or answered garbage may still hold an allocation.
  let got: Result;
  try {
    got = (await execIpam(host, 'ADD', conf.ipam.type, args, conf.raw)) ?? emptyResult();
  } catch (e) {
    outcome.refused = ipamRefused(e);
    throw e;
  }
  step('add:ipam-done');
  return got;
}

/** Kernel modes: move the netdev into the pod with its name, MAC, MTU and IPAM's addresses and routes. */
function moveNetdevIn(ctx: Ctx, st: AttachmentState, netdev: NetdevState, got: Result): void {
  const { args, host, log } = ctx;
  const ips = got.ips.map((ip) => ({ ...ip, interface: 0 }));
  const inPod = moveIn(host, netdev, args.netns, ips, got.routes);
  // its index in the pod: DEL and CHECK find it by that, whatever the pod renames
  if (inPod && netdev.id) {
    netdev.id.ifindex = inPod.ifindex;
    // the marker too (kernel modes only, ~1 ms): a DEL that lost the state knows it by it
    saveMarker(host, st.pci, { key: st.key, netns: args.netns, netdev });
  } else log.warn('cannot read the netdev in the pod after moving it in; DEL and CHECK will know it by its name, kind and MAC only', { podName: netdev.podName });
}

/** The result: what the plugins before us in the chain returned, with our interface, IPs and routes appended. */
function resultOf(ctx: Ctx, prep: Prepared, st: AttachmentState, chained: Result, got: Result): Result {
  const { args, conf } = ctx;
  const itf: Interface = { name: args.ifName, sandbox: args.netns, pciID: st.pci };
  const mac = st.netdev?.mac ?? prep.settings.vf.mac ?? nonZero(prep.originalVf?.mac) ?? prep.known()?.mac;
  if (mac) itf.mac = mac;
  const mtu = st.netdev?.mtu ?? prep.mtu;
  if (mtu) itf.mtu = mtu;
  const idx = chained.interfaces.length;
  const dns = mergeDns(conf.dns, got.dns);
  return {
    interfaces: [...chained.interfaces, itf],
    ips: [...chained.ips, ...got.ips.map((ip) => ({ ...ip, interface: idx }))],
    routes: [...chained.routes, ...got.routes],
    dns: Object.keys(dns).length > 0 ? dns : chained.dns,
  };
}

/**
 * The device's temporary name while it moves: derived from its PCI address (so recovery can
 * recognise it), unless a foreign link already holds that name in the host (then a unique one;
 * the state records whichever was used).
 */
function freeTmpName(pci: string, hostLinks: LinkInfo[]): string {
  const taken = (n: string) => hostLinks.some((x) => x.ifname === n || x.altnames.includes(n));
  const name = tmpNameFor(pci);
  return taken(name) ? tmpNameFor(`${pci}/${process.pid}/${Date.now()}`) : name;
}

/** `f`'s value, computed on first use (what `bind` recorded is read at most once, warned about once). */
function once<T>(f: () => T): () => T {
  let done = false;
  let v: T;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v;
  };
}

function nonZero(mac: string | undefined): string | undefined {
  return mac && !/^(00:){5}00$/.test(mac) ? mac : undefined;
}

function prevResultOf(prev: unknown): Result {
  return prev === undefined ? emptyResult() : parseResult(prev, 'prevResult');
}
