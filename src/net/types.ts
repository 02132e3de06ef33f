/** What ADD records about a netdev (saved in the state files, acted on by net/netdev.ts). */

/** A route through the netdev, as `ip -j route show` reports it (enough to add it back). */
export interface HostRoute {
  dst: string;
  gateway?: string;
  metric?: number;
  /** omitted for the main table */
  table?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  family: 4 | 6;
  /** a multipath (ECMP) route: every nexthop, this netdev's among them (the kernel drops the whole route when one nexthop's device leaves) */
  nexthops?: HostNexthop[];
}

export interface HostNexthop {
  dev: string;
  gateway?: string;
  weight?: number;
}

/** What a DEL puts back for a netdev the host was using (ADD with "allowInUse"). */
export interface HostUse {
  addresses: string[];
  routes: HostRoute[];
  master?: string;
}

/**
 * A netdev's identity. `parentbus`/`parentdev` (`ip -d`: "pci" + the function's address, or
 * "virtio" + "virtioN") and `kind` (linkinfo.info_kind, none for a physical netdev) are read in
 * the host before ADD moves it and cannot be given to a link a pod creates; `ifindex` is its index
 * in the pod once ADD moved it in (unique in the netns while the device is there), the only mark a
 * netdev without a parent (a veth in the simulated node, kernels before 5.13) has.
 */
export interface NetdevIdentity {
  kind?: string;
  parentbus?: string;
  parentdev?: string;
  ifindex?: number;
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
  /** what the host used it for (ADD with "allowInUse"): DEL puts it back */
  hostUse?: HostUse;
  /**
   * Which link it is, whatever it is named: a pod with CAP_NET_ADMIN can rename it and give its
   * name to a link of its own. Absent in states of older releases (then: name, kind and MAC).
   */
  id?: NetdevIdentity;
}
