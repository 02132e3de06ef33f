import { CniError, Code } from '../cni/errors.js';
import type { PciDevice } from '../device/classify.js';
import type { Host } from '../sys/host.js';
import { isLiveNetns, netnsMayBeAlive } from '../sys/netns.js';
import { loadMarker } from '../state/store.js';
import { hostUseOf, hostUseReasons, netdevUsage, numVfs, type HostUse } from '../net/usage.js';
import { vfsInUse, vfUseReasons } from '../state/vf-use.js';

/**
 * ADD's in-use checks (the same test the node tools apply, src/net/usage.ts).
 *
 * Pods: an SR-IOV PF whose VFs are in live pods is not attachable (its holder could change those
 * VFs' settings, and the VFs' own ADDs and DELs would lose their PF), nor is a VF whose PF is in a
 * pod. Another pod's device is never ours to take: no netconf setting overrides this (102).
 */
export function refusePodUse(host: Host, dev: PciDevice): void {
  if (numVfs(host, dev.pci) > 0) {
    const why = vfUseReasons(dev.pci, vfsInUse(host, dev.pci));
    if (why.length > 0) {
      throw new CniError(Code.DeviceBusy, `PCI device ${dev.pci} cannot be attached: ${why.join('; ')}. A pod holding the PF could change those VFs; attach a VF instead, or delete those pods first`);
    }
  }
  if (dev.pf) {
    const m = loadMarker(host, dev.pf.pci);
    if (m && netnsMayBeAlive(m.netns, host.fs)) {
      throw new CniError(Code.DeviceBusy, `VF ${dev.pci} cannot be attached: its PF ${dev.pf.pci} is attached to container ${m.key.containerID} (network ${m.key.net}, ${m.key.ifname}), so VF settings cannot be made through it; delete that pod first`);
    }
  }
}

/**
 * Host: a netdev with a global address, a route, a master or an upper device with addresses is
 * refused (111) unless the netconf says "allowInUse": true; then what it had is returned, to be
 * saved in the write-ahead state so DEL can put it back. `links` is the `ip -j -d addr show`
 * dump ADD reads anyway, `routes` the `ip -j route show table all` read with it (hostNet(): one
 * process); without `routes` they are read here (its routes through X, multipath ones included).
 */
export function hostUseForAdd(host: Host, pci: string, ifname: string, links: readonly unknown[], allow: boolean, routes?: readonly unknown[]): HostUse | undefined {
  const u = netdevUsage(host, ifname, links, routes);
  const why = hostUseReasons(ifname, u);
  if (why.length === 0) return undefined;
  if (!allow) {
    throw new CniError(
      Code.DeviceInUse,
      `PCI device ${pci} is in use by the host: ${why.join('; ')}. Moving it into a pod would cut the host off what it uses it for; take it out of use first (e.g. "ip addr flush dev ${ifname}", remove it from its bridge or bond), select another device, or set "allowInUse": true in the network configuration (DEL then puts its addresses, routes and master back)`,
    );
  }
  return hostUseOf(u);
}
