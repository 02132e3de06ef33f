import { CniError, Code } from '../cni/errors.js';
import { cut } from '../cni/quote.js';
import type { Ctx, Handler } from '../cni/skel.js';
import { parseResult, type Result } from '../cni/result.js';
import { linkBase, pciDir } from '../device/sysfs.js';
import { findVdpa } from '../device/vdpa.js';
import { execIpam } from '../ipam/ipam.js';
import { ipJson, parseLink, type LinkInfo } from '../net/iproute.js';
import { isOurs } from '../net/netdev.js';
import { diffVf, parsePfLink } from '../net/vf.js';
import type { Host } from '../sys/host.js';
import { isLiveNetns } from '../sys/netns.js';
import type { Lock } from '../sys/lock.js';
import { readAttachment, type AttachmentState, type NetdevState } from '../state/store.js';
import { keyOf, lockDevice } from './common.js';

function addressesIn(j: unknown[] | undefined): string[] {
  const out: string[] = [];
  for (const l of j ?? []) {
    const infos = (l as { addr_info?: Array<{ local?: string; prefixlen?: number }> }).addr_info ?? [];
    for (const a of infos) if (a.local) out.push(`${a.local}/${a.prefixlen ?? ''}`);
  }
  return out;
}

function describe(l: LinkInfo): string {
  return `ifindex ${l.ifindex}${l.kind ? `, a ${l.kind}` : ''}${l.parentdev ? ` on ${l.parentdev}` : ''}`;
}

/** CHECK verifies for real and lists every mismatch in one error. */
export const check: Handler = async (ctx) => {
  const { host } = ctx;
  const { st, lock } = await lockedState(ctx);
  const bad: string[] = [];
  try {
    if (st.phase !== 'added') bad.push('ADD did not complete');
    checkDevice(host, st, bad);
    checkVf(host, st, bad);
    const expected = expectedResult(ctx, st, bad);
    if (st.netdev) checkNetdev(host, st, st.netdev, expected, bad);
    await checkIpam(ctx, bad);
  } finally {
    lock.release();
  }
  if (bad.length > 0) throw new CniError(Code.CheckFailed, `CHECK failed for ${st.pci} (${st.mode}): ${bad.join('; ')}`);
};

/**
 * The attachment's state, read under its device's lock. The state is read before the lock only to
 * know which device to lock, then again under it: a DEL running meanwhile has either not begun or
 * finished, never half-removed what CHECK sees. A state file that cannot be used (corrupt, or a
 * newer release's) is 107 naming it.
 */
async function lockedState(ctx: Ctx): Promise<{ st: AttachmentState; lock: Lock }> {
  const { args, conf, host } = ctx;
  const key = keyOf(ctx);
  const none = () => new CniError(Code.CheckFailed, `no attachment ${cut(args.containerId)}/${args.ifName} of network ${cut(conf.name)}: ADD did not complete or DEL already ran`);
  let seen = readAttachment(host, key);
  for (;;) {
    if (!seen) throw none();
    const lock = await lockDevice(host, seen.pci);
    let st: AttachmentState | undefined;
    try {
      st = readAttachment(host, key);
    } catch (e) {
      lock.release();
      throw e;
    }
    if (st && st.pci === seen.pci) return { st, lock };
    lock.release();
    if (!st) throw none();
    seen = st;
  }
}

/**
 * The PCI function is there with the driver ADD saw, and its vDPA device too. Not classify(): a
 * kernel netdev that is in the pod has left the host's sysfs (net/ is per-namespace), so
 * re-detection would call an attached device unusable.
 */
function checkDevice(host: Host, st: AttachmentState, bad: string[]): void {
  const dir = pciDir(host, st.pci);
  if (!host.fs.exists(dir)) {
    bad.push(`PCI device ${st.pci} is gone`);
    return;
  }
  const driver = linkBase(host, `${dir}/driver`) ?? '';
  if (driver !== st.driver) bad.push(`device ${st.pci} is bound to ${driver || 'no driver'}, expected ${st.driver}`);
  if (!st.vdpa) return;
  try {
    const v = findVdpa(host, st.pci, st.vdpa.name);
    if (v?.driver !== st.vdpa.driver) bad.push(`vDPA device ${st.vdpa.name} uses ${v?.driver ?? 'no'} driver, expected ${st.vdpa.driver}`);
  } catch (e) {
    bad.push((e as Error).message);
  }
}

/** The VF settings ADD applied are still what the PF reports. */
function checkVf(host: Host, st: AttachmentState, bad: string[]): void {
  if (!st.vf || !st.pf?.netdev) return;
  const pf = parsePfLink(ipJson(host, ['-d', 'link', 'show', 'dev', st.pf.netdev]));
  const vf = pf?.vfs.get(st.pf.vfIndex);
  if (!vf) bad.push(`VF ${st.pf.vfIndex} of PF ${st.pf.netdev} cannot be read`);
  else for (const d of diffVf(vf, st.vf.applied)) bad.push(`VF ${st.pf.vfIndex} of ${st.pf.netdev}: ${d}`);
}

/** The result to compare with: the chain's final prevResult when given, else what ADD returned. */
function expectedResult(ctx: Ctx, st: AttachmentState, bad: string[]): Result | undefined {
  if (ctx.conf.prevResult === undefined) return st.result;
  try {
    return parseResult(ctx.conf.prevResult, 'prevResult');
  } catch (e) {
    bad.push((e as Error).message);
    return st.result;
  }
}

/** Kernel modes: the device ADD moved in, found by its identity, has the name, MAC, MTU and addresses expected. */
function checkNetdev(host: Host, st: AttachmentState, nd: NetdevState, expected: Result | undefined, bad: string[]): void {
  if (!isLiveNetns(st.netns, host.fs)) {
    bad.push(`network namespace ${st.netns} is gone`);
    return;
  }
  // the device ADD moved in, found by its identity: a link of the pod under its name is not it
  const j = ipJson(host, ['-d', 'addr', 'show'], st.netns) ?? [];
  const links = j.map((o) => ({ o, l: parseLink(o) })).filter((x): x is { o: unknown; l: LinkInfo } => x.l !== undefined);
  const idx = expected?.interfaces.findIndex((i) => i.name === nd.podName && i.sandbox === st.netns) ?? -1;
  // A later plugin in the chain (tuning) may have changed MAC or MTU: the final result says so.
  const final = idx >= 0 ? expected?.interfaces[idx] : undefined;
  const ours = links.find((x) => isOurs(x.l, nd, st.pci, final?.mac ? [final.mac] : []));
  const named = links.find((x) => x.l.ifname === nd.podName);
  if (named && named !== ours) bad.push(`interface ${nd.podName} in the pod is not the device ADD moved in (${describe(named.l)})`);
  if (!ours) {
    bad.push(`the device ADD moved in${nd.id?.ifindex !== undefined ? ` (ifindex ${nd.id.ifindex})` : ''} is missing from the pod`);
    return;
  }
  const l = ours.l;
  if (l.ifname !== nd.podName) bad.push(`the device ADD moved in as ${nd.podName} is now named ${cut(l.ifname)}`);
  const mac = final?.mac ?? nd.mac;
  const mtu = final?.mtu ?? nd.mtu;
  if (l.mac.toLowerCase() !== mac.toLowerCase()) bad.push(`interface ${nd.podName} has MAC ${l.mac}, expected ${mac}`);
  if (l.mtu !== mtu) bad.push(`interface ${nd.podName} has MTU ${l.mtu}, expected ${mtu}`);
  if (!l.up) bad.push(`interface ${nd.podName} is down`);
  const have = addressesIn([ours.o]);
  for (const ip of expected?.ips ?? []) {
    // Only addresses the result says are ours: in a chained prevResult an address without
    // an interface index (optional in the spec) belongs to an earlier plugin.
    if (ip.interface === undefined || ip.interface !== idx) continue;
    if (!have.includes(ip.address)) bad.push(`interface ${nd.podName} lacks address ${ip.address}`);
  }
}

/** The delegated IPAM plugin's own CHECK. */
async function checkIpam(ctx: Ctx, bad: string[]): Promise<void> {
  const { args, conf, host } = ctx;
  if (!conf.ipam) return;
  try {
    await execIpam(host, 'CHECK', conf.ipam.type, args, conf.raw);
  } catch (e) {
    bad.push((e as Error).message);
  }
}
