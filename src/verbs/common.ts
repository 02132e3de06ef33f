import { CniError, Code } from '../cni/errors.js';
import { netdevsIn, pciDir } from '../device/sysfs.js';
import type { Ctx } from '../cni/skel.js';
import { checkUsableMac, type NetConf } from '../config/netconf.js';
import type { CmdArgs } from '../cni/env.js';
import { parseBdf } from '../device/pci.js';
import { execIpam } from '../ipam/ipam.js';
import { ipamIsSelf } from '../ipam/self.js';
import type { Logger } from '../log/logger.js';
import { ipJson, ipRun } from '../net/iproute.js';
import { locate, moveOut, restoreHostUse } from '../net/netdev.js';
import { parsePfLink, restoreCommands, type VfSettings } from '../net/vf.js';
import { undoDeviceInfo } from '../deviceinfo/spec.js';
import type { Host } from '../sys/host.js';
import { acquireLock, deviceLockKey, lockScope, type Lock, type LockOptions } from '../sys/lock.js';
import { isSysError } from '../sys/errors.js';
import { fnv64 } from '../sys/hash.js';
import { isLiveNetns } from '../sys/netns.js';
import { step } from '../sys/fault.js';
import { type AttachmentKey, type AttachmentState, loadMarker, removeMarker, removeState, sameKey } from '../state/store.js';

export { step };

export function keyOf(ctx: Ctx): AttachmentKey {
  return { net: ctx.conf.name, containerID: ctx.args.containerId, ifname: ctx.args.ifName };
}

export function devicePci(conf: NetConf): string {
  if (!conf.deviceID) {
    throw new CniError(
      Code.InvalidConfig,
      'no device given: set "deviceID" (or "pciBusID") to a PCI address, or let Multus inject it — the NetworkAttachmentDefinition needs the k8s.v1.cni.cncf.io/resourceName annotation and "capabilities": {"deviceID": true}',
    );
  }
  return parseBdf(conf.deviceID, conf.deviceIDField ?? 'deviceID');
}

export function lockTimeoutMs(env: NodeJS.ProcessEnv): number {
  const n = Number(env.DPDK_CNI_LOCK_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 30_000;
}

/** The per-device lock every ADD/DEL/CHECK/GC of `pci` holds; `timeoutMs` 0 = one attempt. */
export function lockDevice(host: Host, pci: string, timeoutMs = lockTimeoutMs(host.env)): Promise<Lock> {
  return lockOrRetry(host, deviceLockKey(pci), { timeoutMs });
}

/** A lock, or 11 (try again later) when another dpdk-cni call holds it past the timeout. */
async function lockOrRetry(host: Host, key: string, opts: LockOptions): Promise<Lock> {
  try {
    return await acquireLock(lockScope(host.root), key, opts);
  } catch (e) {
    if (isSysError(e, 'lock-timeout')) throw new CniError(Code.TryAgainLater, e.message);
    throw e;
  }
}

/**
 * The per-attachment lock ADD and DEL hold around their whole run, taken before the device lock:
 * a runtime's DEL after an ADD timeout starts while that ADD is still running, and the DEL may not
 * know the device (no state yet, no deviceID in its netconf). Holding it, DEL sees either no
 * attachment or a finished one. GC, CHECK and healing work under the device lock alone (they never
 * wait for an attachment lock while holding a device lock, so the order cannot deadlock). The name
 * is a hash: network name + container ID may be longer than an abstract socket name.
 */
export function lockAttachment(host: Host, key: AttachmentKey, timeoutMs = lockTimeoutMs(host.env)): Promise<Lock> {
  const id = `${key.net}@${key.containerID}@${key.ifname}`;
  return lockOrRetry(host, `att/${fnv64(id)}`, { timeoutMs, what: `attachment ${key.containerID}/${key.ifname} of network ${key.net}` });
}

/** MAC priority: runtimeConfig.mac > CNI_ARGS MAC > netconf mac. */
export function pickMac(conf: NetConf, args: CmdArgs): string | undefined {
  if (conf.runtimeMac) return conf.runtimeMac;
  if (args.args.mac) return checkUsableMac(args.args.mac, 'CNI_ARGS MAC');
  return conf.mac;
}

export function wantedVf(conf: NetConf, mac: string | undefined): VfSettings {
  const s: VfSettings = {};
  if (conf.vlan !== undefined) {
    s.vlan = conf.vlan;
    s.qos = conf.vlanQoS ?? 0;
    s.proto = conf.vlanProto ?? '802.1q';
  }
  if (mac) s.mac = mac;
  if (conf.spoofchk) s.spoofchk = conf.spoofchk === 'on';
  if (conf.trust) s.trust = conf.trust === 'on';
  if (conf.linkState) s.linkState = conf.linkState;
  if (conf.minTxRate !== undefined) s.minTx = conf.minTxRate;
  if (conf.maxTxRate !== undefined) s.maxTx = conf.maxTxRate;
  return s;
}

/** CNI env for running IPAM on behalf of a saved attachment (GC and healing run for others). */
function ipamArgs(args: CmdArgs, st: AttachmentState, netns: string): CmdArgs {
  return { ...args, containerId: st.key.containerID, ifName: st.key.ifname, netns };
}

function ipamEnv(host: Host, st: AttachmentState, netns: string): Host {
  return { ...host, env: { ...host.env, CNI_CONTAINERID: st.key.containerID, CNI_IFNAME: st.key.ifname, CNI_NETNS: netns } };
}

export interface RestoreOptions {
  /** GC and stale-marker healing: the pod's netns is assumed gone. */
  assumeNetnsGone?: boolean;
  /** ADD rollback: put back a device-info file that existed before (Multus' copy). */
  restorePreviousDeviceInfo?: boolean;
  /**
   * ADD rollback after the IPAM plugin refused the ADD with an error of its own: its DEL is still
   * run (it may hold something), but a failing DEL (e.g. the same bad ipam config) is only logged.
   */
  ipamDelBestEffort?: boolean;
}

/**
 * Undo an attachment from its saved state: VF settings through the PF, the netdev back to the
 * host with its name/MAC/MTU, the IPAM allocation, the device-info file. What is already gone is
 * logged and skipped; what failed and a retry could fix is returned (the caller keeps the state).
 */
export async function restore(host: Host, args: CmdArgs, st: AttachmentState, log: Logger, opts: RestoreOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  const netns = !opts.assumeNetnsGone && isLiveNetns(st.netns, host.fs) ? st.netns : undefined;
  // The device may belong to another attachment by now (this one's ADD was killed before it
  // wrote its marker, and another pod took the device): then its VF settings and netdev are that
  // pod's, not ours to put back. Our IPAM allocation and device-info file are still ours.
  const owner = loadMarker(host, st.pci);
  const devicePassedOn = owner !== undefined && !sameKey(owner.key, st.key);
  if (devicePassedOn) log.warn('device now belongs to another attachment; leaving its settings alone', { pci: st.pci, owner: owner.key });

  if (!devicePassedOn && st.vf && st.pf?.netdev) {
    const pf = parsePfLink(ipJson(host, ['-d', 'link', 'show', 'dev', st.pf.netdev]));
    if (!pf) {
      // a PF that sysfs still shows was not read (ip failed): retry, never drop its VF's settings
      if (netdevsIn(host, pciDir(host, st.pf.pci)).includes(st.pf.netdev)) problems.push(`cannot read PF ${st.pf.netdev} with "ip -d link show" although it is there, so VF ${st.pf.vfIndex} settings are not restored yet`);
      else log.warn('PF netdev is gone; VF settings cannot be restored', { pf: st.pf.netdev });
    } else if (!pf.vfs.has(st.pf.vfIndex)) log.warn('VF no longer exists on the PF; nothing to restore', { pf: st.pf.netdev, vf: st.pf.vfIndex });
    else {
      try {
        ipRun(host, restoreCommands(st.pf.netdev, st.pf.vfIndex, st.vf.applied, st.vf.original, pf.vfs.get(st.pf.vfIndex)));
      } catch (e) {
        problems.push(`restoring VF settings: ${(e as Error).message}`);
      }
    }
  }
  step('restore:after-vf');

  if (!devicePassedOn && st.netdev) {
    const at = locate(host, st.netdev, st.pci, netns);
    if (!at) {
      // Not moved by name: a link the pod named like it is not it (the pod may have renamed the
      // device and created its own under that name), and it stays in the pod.
      log.warn('the netdev ADD moved in is not in the pod or the host; nothing moved back (a link of the pod with its name is left alone)', { pci: st.pci, podName: st.netdev.podName, hostName: st.netdev.hostName, ifindex: st.netdev.id?.ifindex });
    } else {
      try {
        moveOut(host, st.netdev, at, netns, st.pci);
        restoreHostUse(host, st.netdev, log);
      } catch (e) {
        problems.push(`moving ${at.name} back to the host: ${(e as Error).message}`);
      }
    }
  }
  step('restore:after-netdev');

  if (st.ipam) {
    const saved = JSON.parse(st.netconf) as { type?: string; ipam?: { type?: string } };
    const ipamType = saved.ipam?.type;
    // a state saved before ADD refused dpdk-cni as its own IPAM: it allocated nothing, skip it
    if (ipamType && ipamIsSelf(saved)) log.warn('the saved netconf names dpdk-cni itself as IPAM plugin; nothing to release there', { ipam: ipamType });
    else if (ipamType) {
      try {
        await execIpam(ipamEnv(host, st, netns ?? ''), 'DEL', ipamType, ipamArgs(args, st, netns ?? ''), st.netconf);
      } catch (e) {
        if (opts.ipamDelBestEffort) log.warn('IPAM DEL after a refused IPAM ADD failed', { err: (e as Error).message });
        else problems.push((e as Error).message);
      }
    }
  }
  step('restore:after-ipam');

  if (st.deviceInfo) {
    try {
      undoDeviceInfo(host, st.deviceInfo, st.key, opts.restorePreviousDeviceInfo === true, log);
    } catch (e) {
      log.warn('could not remove the device-info file', { file: st.deviceInfo.path, err: e });
    }
  }
  step('restore:after-devinfo');
  return problems;
}

/** Restore and, when nothing is left to retry, forget the attachment. */
export async function release(host: Host, args: CmdArgs, st: AttachmentState, log: Logger, opts: RestoreOptions = {}): Promise<string[]> {
  const problems = await restore(host, args, st, log, opts);
  if (problems.length === 0) {
    removeState(host, st.key);
    step('release:after-state');
    removeMarker(host, st.pci, st.key);
  }
  return problems;
}
