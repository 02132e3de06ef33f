import { CniError, Code } from '../cni/errors.js';
import { cut } from '../cni/quote.js';
import type { Handler } from '../cni/skel.js';
import { parseResult, type Result } from '../cni/result.js';
import { linkBase, pciDir } from '../device/sysfs.js';
import { findVdpa } from '../device/vdpa.js';
import { execIpam } from '../ipam/ipam.js';
import { ipJson, parseLink, type LinkInfo } from '../net/iproute.js';
import { isOurs } from '../net/netdev.js';
import { diffVf, parsePfLink } from '../net/vf.js';
import { isLiveNetns } from '../sys/netns.js';
import type { Lock } from '../sys/lock.js';
import { readAttachment, type AttachmentState } from '../state/store.js';
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
  const { args, conf, host } = ctx;
  const key = keyOf(ctx);
  // A state file that cannot be used (corrupt, or a newer release's) is 107 naming it.
  const none = () => new CniError(Code.CheckFailed, `no attachment ${cut(args.containerId)}/${args.ifName} of network ${cut(conf.name)}: ADD did not complete or DEL already ran`);
  // The state is read before the lock only to know which device to lock, then again under it: a
  // DEL running meanwhile has either not begun or finished, never half-removed what CHECK sees.
  let seen = readAttachment(host, key);
  let st: AttachmentState | undefined;
  let lock: Lock | undefined;
  while (!st) {
    if (!seen) throw none();
    lock = await lockDevice(host, seen.pci);
    try {
      st = readAttachment(host, key);
    } catch (e) {
      lock.release();
      throw e;
    }
    if (st && st.pci !== seen.pci) {
      lock.release();
      seen = st;
      st = undefined;
    } else if (!st) {
      lock.release();
      throw none();
    }
  }
  const bad: string[] = [];
  try {
    if (st.phase !== 'added') bad.push('ADD did not complete');
    // Not classify(): a kernel netdev that is in the pod has left the host's sysfs (net/ is
    // per-namespace), so re-detection would call an attached device unusable. Compare the drivers.
    const dir = pciDir(host, st.pci);
    if (!host.fs.exists(dir)) bad.push(`PCI device ${st.pci} is gone`);
    else {
      const driver = linkBase(host, `${dir}/driver`) ?? '';
      if (driver !== st.driver) bad.push(`device ${st.pci} is bound to ${driver || 'no driver'}, expected ${st.driver}`);
      if (st.vdpa) {
        try {
          const v = findVdpa(host, st.pci, st.vdpa.name);
          if (v?.driver !== st.vdpa.driver) bad.push(`vDPA device ${st.vdpa.name} uses ${v?.driver ?? 'no'} driver, expected ${st.vdpa.driver}`);
        } catch (e) {
          bad.push((e as Error).message);
        }
      }
    }
    if (st.vf && st.pf?.netdev) {
      const pf = parsePfLink(ipJson(host, ['-d', 'link', 'show', 'dev', st.pf.netdev]));
      const vf = pf?.vfs.get(st.pf.vfIndex);
      if (!vf) bad.push(`VF ${st.pf.vfIndex} of PF ${st.pf.netdev} cannot be read`);
      else for (const d of diffVf(vf, st.vf.applied)) bad.push(`VF ${st.pf.vfIndex} of ${st.pf.netdev}: ${d}`);
    }
    let expected: Result | undefined = st.result;
    if (conf.prevResult !== undefined) {
      try {
        expected = parseResult(conf.prevResult, 'prevResult');
      } catch (e) {
        bad.push((e as Error).message);
      }
    }
    if (st.netdev) {
      const nd = st.netdev;
      if (!isLiveNetns(st.netns, host.fs)) bad.push(`network namespace ${st.netns} is gone`);
      else {
        // the device ADD moved in, found by its identity: a link of the pod under its name is not it
        const j = ipJson(host, ['-d', 'addr', 'show'], st.netns) ?? [];
        const links = j.map((o) => ({ o, l: parseLink(o) })).filter((x): x is { o: unknown; l: LinkInfo } => x.l !== undefined);
        const idx = expected?.interfaces.findIndex((i) => i.name === nd.podName && i.sandbox === st.netns) ?? -1;
        // A later plugin in the chain (tuning) may have changed MAC or MTU: the final result says so.
        const final = idx >= 0 ? expected?.interfaces[idx] : undefined;
        const ours = links.find((x) => isOurs(x.l, nd, st.pci, final?.mac ? [final.mac] : []));
        const named = links.find((x) => x.l.ifname === nd.podName);
        if (named && named !== ours) bad.push(`interface ${nd.podName} in the pod is not the device ADD moved in (${describe(named.l)})`);
        if (!ours) bad.push(`the device ADD moved in${nd.id?.ifindex !== undefined ? ` (ifindex ${nd.id.ifindex})` : ''} is missing from the pod`);
        else {
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
      }
    }
    if (conf.ipam) {
      try {
        await execIpam(host, 'CHECK', conf.ipam.type, args, conf.raw);
      } catch (e) {
        bad.push((e as Error).message);
      }
    }
  } finally {
    lock?.release();
  }
  if (bad.length > 0) throw new CniError(Code.CheckFailed, `CHECK failed for ${st.pci} (${st.mode}): ${bad.join('; ')}`);
};
