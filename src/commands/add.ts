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
import { deviceInfoPath, readDeviceInfo, writeDeviceInfo } from '../deviceinfo/spec.js';
import { isLiveNetns, netnsMayBeAlive } from '../sys/netns.js';
import {
  isCorruptState, moveAside, readAttachment, readMarker, removeMarker, saveMarker, saveState, sameKey,
  type AttachmentState, type NetdevState, type StateFileError,
} from '../state/store.js';
import { devicePci, keyOf, lockAttachment, lockDevice, pickMac, release, step, wantedVf } from './common.js';
import type { Lock } from '../sys/lock.js';
import { lastKnown, type LastKnown } from '../state/last-known.js';
import { hostUseForAdd, refusePodUse } from './in-use.js';

/**
 * A previous owner that is not using the device any more: put the device back first. We hold the
 * device lock, so no ADD or DEL of this device is running; an owner counts only while its
 * attachment is complete (phase "added") and its pod's network namespace lives. Anything else is a
 * leftover: the pod is gone but its DEL never came, an ADD was killed (or rolled back incompletely)
 * and the runtime saw it fail, or a DEL was killed between removing the state and the marker.
 */
async function healStale(ctx: Ctx, pci: string): Promise<void> {
  const { host, args, log } = ctx;
  const key = keyOf(ctx);
  const read = readMarker(host, pci);
  if (read && 'problem' in read) log.warn(`allocation marker ${read.file} cannot be used (${read.problem}); treating it as stale: this ADD replaces it`, { file: read.file });
  const marker = read && 'marker' in read ? read.marker : undefined;
  // this attachment's own state: a newer release's stays an error (107); a corrupt one is set aside
  let mine: AttachmentState | undefined;
  try {
    mine = readAttachment(host, key);
  } catch (e) {
    if (!isCorruptState(e)) throw e;
    const to = moveAside(host, e.file);
    log.warn(`state file ${e.file} of this attachment is corrupt (${e.problem}); moved it to ${to}, nothing in it is restored`, { file: e.file, movedTo: to });
    // what DEL does without a state: release this attachment's IPAM allocation with the given netconf
    if (ctx.conf.ipam) {
      try {
        await execIpam(host, 'DEL', ctx.conf.ipam.type, args, ctx.conf.raw);
      } catch (err) {
        log.warn('IPAM DEL of the attachment whose state was corrupt failed', { err: (err as Error).message });
      }
    }
  }
  if (mine && mine.pci !== pci) {
    throw new CniError(Code.DeviceBusy, `attachment ${key.containerID}/${key.ifname} of network ${key.net} already holds device ${mine.pci}: DEL it first`);
  }
  if (marker && !sameKey(marker.key, key)) {
    let found: AttachmentState | undefined;
    let unusable: StateFileError | undefined;
    try {
      found = readAttachment(host, marker.key);
    } catch (e) {
      if (!isCorruptState(e)) throw e; // a newer release's owner: 107, never guessed
      unusable = e;
    }
    if (unusable) {
      // nothing in it can be trusted, its pod may be alive: only a dead netns lets the device go
      if (netnsMayBeAlive(marker.netns, host.fs)) {
        throw new CniError(
          Code.DeviceBusy,
          `PCI device ${pci} is allocated to container ${marker.key.containerID} (${marker.key.ifname}, network ${marker.key.net}) whose network namespace ${marker.netns} is still alive, and its state file ${unusable.file} is corrupt (${unusable.problem}): delete that pod (its DEL sets the file aside) or move the file away by hand`,
        );
      }
      log.warn(`the previous owner's state file ${unusable.file} is corrupt (${unusable.problem}); nothing in it is restored`, { file: unusable.file });
    }
    const owner = found?.pci === pci ? found : undefined;
    if (owner && owner.phase === 'added' && netnsMayBeAlive(owner.netns, host.fs)) {
      throw new CniError(
        Code.DeviceBusy,
        `PCI device ${pci} is already allocated to container ${marker.key.containerID} (${marker.key.ifname}, network ${marker.key.net}) whose network namespace ${owner.netns} is still alive${isLiveNetns(owner.netns, host.fs) ? '' : ' (or cannot be inspected: permission denied, so it is not taken)'}; the device plugin gave the same device twice or the old pod is still terminating`,
      );
    }
    const why = unusable ? 'its attachment state is corrupt and its network namespace is gone' : !owner ? 'its attachment state is gone (a DEL was interrupted)' : owner.phase !== 'added' ? 'its ADD never completed' : 'its pod is gone but its DEL never came';
    log.warn(`healing a stale allocation: ${why}`, { pci, previous: marker.key, netns: marker.netns });
    if (owner) {
      // restore() takes the device back from the old netns if that still exists
      const problems = await release(host, args, owner, log);
      if (problems.length > 0) {
        throw new CniError(Code.DeviceBusy, `PCI device ${pci} was left configured by a previous attachment (${why}) and could not be restored: ${problems.join('; ')}`);
      }
    } else {
      removeMarker(host, pci, marker.key);
    }
  }
  if (mine) {
    // ADD repeated for the same attachment without a DEL: undo the first one before redoing it.
    log.warn('ADD repeated for an attachment that exists; releasing the previous one first', { pci });
    const problems = await release(host, args, mine, log, { assumeNetnsGone: !isLiveNetns(mine.netns, host.fs) });
    if (problems.length > 0) throw new CniError(Code.DeviceBusy, `could not release the previous ADD of this attachment: ${problems.join('; ')}`);
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

function pfMtu(ctx: Ctx, dev: PciDevice): number | undefined {
  if (!dev.pf?.netdev) return undefined;
  return readInt(ctx.host, `${pciDir(ctx.host, dev.pf.pci)}/net/${dev.pf.netdev}/mtu`);
}

/** Which settings this device can take; refuse clearly what it cannot. */
function plan(ctx: Ctx, dev: PciDevice, mac: string | undefined, known: () => LastKnown | undefined): { vf: VfSettings; netdevMac?: string } {
  const { conf } = ctx;
  const want = wantedVf(conf, mac);
  const kernel = dev.mode === 'netdev' || dev.mode === 'virtio-vdpa';
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
    const r: { vf: VfSettings; netdevMac?: string } = { vf: {} };
    if (mac && kernel) r.netdevMac = mac;
    return r;
  }
  if (hasSettings(want) && !dev.pf.netdev) {
    throw new CniError(Code.NoPf, `PF ${dev.pf.pci} of VF ${dev.pci} has no netdev, so VF settings cannot be applied through it`);
  }
  const r: { vf: VfSettings; netdevMac?: string } = { vf: want };
  if (mac && kernel) r.netdevMac = mac;
  return r;
}

export const add: Handler = async (ctx) => {
  const { args, conf, host, log } = ctx;
  const pci = devicePci(conf);
  // Chained after another plugin: its result is passed through with ours appended. Parsed before
  // anything is touched, so a malformed prevResult fails without IPAM or device churn.
  const prev = prevResultOf(conf.prevResult);
  const key = keyOf(ctx);
  // Every mode: a DPDK or vhost-vdpa attachment moves nothing into the pod, but an allocation
  // recorded for a netns that is not alive would be healed away by the next pod's ADD at once.
  if (!isLiveNetns(args.netns, host.fs)) {
    throw new CniError(Code.NetnsFailed, `CNI_NETNS ${quote(args.netns)} is not a live network namespace (gone, not a netns mount, or a namespace of another type): the runtime must pass the pod's network namespace`);
  }
  // the attachment first (a DEL of it waits for this ADD to finish), then the device
  const att = await lockAttachment(host, key);
  let lock: Lock;
  try {
    lock = await lockDevice(host, pci);
  } catch (e) {
    att.release();
    throw e;
  }
  try {
    step('add:locked');
    const known = once(() => lastKnown(host, pci, log));
    const dev = classify(host, pci, conf.vdpaDevice);
    log.debug('device classified', { pci, mode: dev.mode, driver: dev.driver, pf: dev.pf, netdev: dev.netdev, vdpa: dev.vdpa });
    const kernel = dev.mode === 'netdev' || dev.mode === 'virtio-vdpa';
    await healStale(ctx, pci);
    const mac = pickMac(conf, args);
    const p = plan(ctx, dev, mac, known);
    refusePodUse(host, dev);

    // Originals, read before anything changes.
    let original: VfState | undefined;
    if (hasSettings(p.vf) && dev.pf?.netdev) {
      const pf = parsePfLink(ipJson(host, ['-d', 'link', 'show', 'dev', dev.pf.netdev]));
      if (!pf) throw new CniError(Code.NetlinkFailed, `cannot read PF ${dev.pf.netdev} with "ip -d link show": is it in the host network namespace?`);
      original = pf.vfs.get(dev.pf.vfIndex);
      if (!original) throw new CniError(Code.DeviceNotFound, `PF ${dev.pf.netdev} does not report VF ${dev.pf.vfIndex} (${pci})`);
    }
    let netdev: NetdevState | undefined;
    if (kernel && dev.netdev) {
      // with addresses: the in-use test needs them, and it costs the same process
      const dump = ipJson(host, ['-d', 'addr', 'show']) ?? [];
      const hostLinks = dump.map(parseLink).filter((x): x is LinkInfo => x !== undefined);
      const l = hostLinks.find((x) => x.ifname === dev.netdev);
      if (!l) throw new CniError(Code.DeviceNotFound, `netdev ${dev.netdev} of ${pci} is not in the host network namespace (still in another pod?)`);
      const hostUse = hostUseForAdd(host, pci, l.ifname, dump, conf.allowInUse === true);
      if (podHasLink(host, args.netns, args.ifName)) {
        throw new CniError(Code.NetnsFailed, `interface ${args.ifName} already exists in the pod network namespace ${args.netns}`);
      }
      netdev = {
        hostName: l.ifname, origMac: l.mac, origMtu: l.mtu, wasUp: l.up, tmpName: freeTmpName(pci, hostLinks),
        podName: args.ifName, mac: p.netdevMac ?? l.mac, mtu: conf.mtu ?? l.mtu, id: identityOf(l),
      };
      if (hostUse) {
        netdev.hostUse = hostUse;
        log.warn('taking a netdev the host uses ("allowInUse"); DEL puts its addresses, routes and master back', { netdev: l.ifname, ...hostUse });
      }
    }
    let mtu: number | undefined;
    if (!kernel) {
      const pfm = pfMtu(ctx, dev);
      if (conf.mtu !== undefined && pfm !== undefined && conf.mtu > pfm) {
        throw new CniError(Code.UnsupportedField, `field "mtu" ${conf.mtu} is above the MTU of PF ${dev.pf?.netdev} (${pfm}); a ${dev.mode === 'dpdk' ? 'userspace-driven' : 'vhost-vdpa'} VF cannot exceed it — raise the PF MTU or lower "mtu"`);
      }
      mtu = conf.mtu ?? pfm ?? known()?.mtu;
    }
    const devInfoPath = conf.deviceInfoFile ? deviceInfoPath(host, conf.deviceInfoFile, key) : undefined;
    if (!devInfoPath) log.info('no runtimeConfig.CNIDeviceInfoFile: Multus will not publish device-info for this attachment (add "capabilities": {"CNIDeviceInfoFile": true} and the resourceName annotation)');

    const st: AttachmentState = {
      version: 1, phase: 'adding', key, netns: args.netns, mode: dev.mode, pci, driver: dev.driver,
      netconf: conf.raw, ipam: conf.ipam !== undefined, createdAt: new Date().toISOString(),
    };
    if (dev.pf) st.pf = dev.pf;
    if (original) st.vf = { original, applied: p.vf };
    if (netdev) st.netdev = netdev;
    if (dev.vdpa) st.vdpa = dev.vdpa;
    if (devInfoPath) {
      st.deviceInfo = { path: devInfoPath };
      const prev = readDeviceInfo(host, devInfoPath);
      if (prev !== undefined) st.deviceInfo.previous = prev;
    }
    // Write-ahead: the state and the allocation marker exist before the first change.
    saveState(host, st);
    let ipamRefusedAdd = false;
    try {
      saveMarker(host, pci, netdev ? { key, netns: args.netns, netdev } : { key, netns: args.netns });
      step('add:state-saved');
      // what the VF has already is not written (and so not restored); CHECK still verifies all of it
      if (st.vf && dev.pf?.netdev) ipRun(host, applyCommands(dev.pf.netdev, dev.pf.vfIndex, changedSettings(st.vf.applied, st.vf.original), st.vf.original));
      step('add:vf-applied');

      let ipamResult: Result = emptyResult();
      if (conf.ipam) {
        try {
          findPlugin(host, conf.ipam.type, args.path);
        } catch (e) {
          st.ipam = false; // nothing was started, nothing to release
          throw e;
        }
        // From here on the rollback runs IPAM DEL whatever the answer: a plugin that failed, timed
        // out or answered garbage may still hold an allocation.
        try {
          ipamResult = (await execIpam(host, 'ADD', conf.ipam.type, args, conf.raw)) ?? emptyResult();
        } catch (e) {
          ipamRefusedAdd = ipamRefused(e);
          throw e;
        }
        step('add:ipam-done');
      }
      const ips = ipamResult.ips.map((ip) => ({ ...ip, interface: 0 }));
      if (netdev) {
        const inPod = moveIn(host, netdev, args.netns, ips, ipamResult.routes);
        // its index in the pod: DEL and CHECK find it by that, whatever the pod renames
        if (inPod && netdev.id) {
          netdev.id.ifindex = inPod.ifindex;
          // the marker too (kernel modes only, ~1 ms): a DEL that lost the state knows it by it
          saveMarker(host, pci, { key, netns: args.netns, netdev });
        } else log.warn('cannot read the netdev in the pod after moving it in; DEL and CHECK will know it by its name, kind and MAC only', { podName: netdev.podName });
        step('add:netdev-moved');
      }
      if (devInfoPath) {
        st.deviceInfo = writeDeviceInfo(host, devInfoPath, dev, log);
        step('add:devinfo-written');
      }

      const itf: Interface = { name: args.ifName, sandbox: args.netns, pciID: pci };
      const resultMac = netdev?.mac ?? p.vf.mac ?? nonZero(original?.mac) ?? known()?.mac;
      if (resultMac) itf.mac = resultMac;
      const resultMtu = netdev?.mtu ?? mtu;
      if (resultMtu) itf.mtu = resultMtu;
      const idx = prev.interfaces.length;
      const dns = mergeDns(conf.dns, ipamResult.dns);
      const result: Result = {
        interfaces: [...prev.interfaces, itf],
        ips: [...prev.ips, ...ips.map((ip) => ({ ...ip, interface: idx }))],
        routes: [...prev.routes, ...ipamResult.routes],
        dns: Object.keys(dns).length > 0 ? dns : prev.dns,
      };
      st.result = result;
      st.phase = 'added';
      saveState(host, st);
      step('add:state-added');
      log.info('attached', { pci, mode: dev.mode, driver: dev.driver, pf: dev.pf?.netdev, vf: dev.pf?.vfIndex, netns: args.netns, mac: itf.mac, mtu: itf.mtu, ips: ips.map((i) => i.address) });
      return result;
    } catch (e) {
      const err = toCniError(e);
      log.error('ADD failed, rolling back', { err: err.message });
      const problems = await release(host, args, st, log, { restorePreviousDeviceInfo: true, ipamDelBestEffort: ipamRefusedAdd });
      if (problems.length > 0) {
        log.error('rollback incomplete; state kept for DEL', { problems });
        err.message += ` (rollback incomplete, DEL will retry: ${problems.join('; ')})`;
      }
      throw err;
    }
  } finally {
    lock.release();
    att.release();
  }
};

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
