/**
 * CNI error codes (spec §5) and the plugin's own codes (>= 100).
 * Every failure the plugin reports is a CniError; skel.ts is the only place that prints it.
 */
export const Code = {
  Unknown: 0,
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  StatusNotAvailable: 50,
  StatusLimited: 51,
  // plugin-specific
  DeviceNotFound: 100,
  DeviceUnsupported: 101,
  DeviceBusy: 102,
  NoPf: 103,
  NetlinkFailed: 104,
  NetnsFailed: 105,
  IpamFailed: 106,
  StateFailed: 107,
  CheckFailed: 108,
  DeviceInfoFailed: 109,
  Internal: 110,
  DeviceInUse: 111,
} as const;

export class CniError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, msg: string, details = '', options?: { cause?: unknown }) {
    super(msg, options);
    this.code = code;
    this.details = details;
  }
}
Object.defineProperty(CniError.prototype, 'name', { value: 'CniError', enumerable: false });

export function isCniError(e: unknown): e is CniError {
  return e instanceof CniError;
}

/** Wrap any thrown value into a CniError, keeping CniErrors as they are (anything else: `code`, 110 by default). */
export function toCniError(e: unknown, code: number = Code.Internal, prefix = ''): CniError {
  if (e instanceof CniError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new CniError(code, prefix ? `${prefix}: ${msg}` : msg, '', { cause: e });
}

/** The error table documented in docs/reference.md; kept here so the docs test can compare. */
export const ERROR_TABLE: ReadonlyArray<[number, string]> = [
  [1, 'Incompatible CNI version: the netconf cniVersion is not one of the supported versions, or the command needs a newer one (CHECK >= 0.4.0, STATUS/GC >= 1.1.0).'],
  [2, 'Unsupported field value: the value is valid JSON but this plugin cannot honour it.'],
  [4, 'Invalid or missing CNI_* environment variable (the message names it).'],
  [5, 'I/O failure reading stdin.'],
  [6, 'stdin is not decodable JSON.'],
  [7, 'Invalid network configuration (the message names the field and the bad value), valid JSON that is not an object, or stdin larger than 1 MiB.'],
  [11, 'Try again later: the device lock could not be had in time, or a transient kernel error.'],
  [50, 'STATUS: the plugin cannot service ADD (state dir unusable or IPAM not ready).'],
  [100, 'Device not found: no PCI device at that address, or its netdev / vDPA device is missing.'],
  [101, 'Device unsupported: no driver bound, or a driver the plugin does not know.'],
  [102, 'Device busy: already allocated to a pod whose network namespace is still alive, or an SR-IOV PF with VFs in such pods (or a VF whose PF is).'],
  [103, 'The device has no PF (PF-less NIC): a VF setting (vlan, spoofchk, trust, rates, link_state, MAC) cannot be applied (vlan 0 and rates 0 are accepted as no-ops).'],
  [104, 'An iproute2 / netlink operation failed (the message shows the command and the kernel error).'],
  [105, 'The pod network namespace is unusable, or the interface name already exists in it.'],
  [106, 'The IPAM plugin failed or could not be found in CNI_PATH.'],
  [107, 'The state directory or a state file could not be read or written; CHECK of a corrupt state file; DEL, CHECK or GC of a state file written by a newer dpdk-cni (unknown version).'],
  [108, 'CHECK found a difference between what ADD configured and what is there (every mismatch is listed).'],
  [109, 'The Device-Info file could not be read or written.'],
  [110, 'Internal error (a bug: please report it with the log).'],
  [111, 'Device in use by the host: its netdev has an address, a route, a master (bridge, bond) or an upper device (macvlan, vlan) with addresses; the message says which. Take it out of use, or set "allowInUse": true (DEL puts them back).'],
];
