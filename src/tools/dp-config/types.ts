/**
 * The SR-IOV network device plugin's config file (/etc/pcidp/config.json), as its README documents
 * it: `{"resourceList":[{"resourcePrefix","resourceName","deviceType","selectors"}]}` where
 * "selectors" is one selector object (old syntax) or a list of them (preferred since v3.5; a device
 * joins the pool through the first selector object it matches). Inside one object every selector
 * narrows the match (AND); inside one selector the values are alternatives (OR).
 */
export interface DpSelector {
  vendors?: string[];
  devices?: string[];
  drivers?: string[];
  pciAddresses?: string[];
  pfNames?: string[];
  rootDevices?: string[];
  linkTypes?: string[];
  vdpaType?: 'vhost' | 'virtio';
  needVhostNet?: boolean;
  isRdma?: boolean;
}

export interface DpResource {
  resourcePrefix?: string;
  resourceName: string;
  deviceType?: string;
  selectors?: DpSelector | DpSelector[];
  [k: string]: unknown;
}

export interface DpConfig {
  resourceList: DpResource[];
}

/** The device plugin's default --resource-prefix. */
const DEFAULT_PREFIX = 'intel.com';
export const DEFAULT_CONFIG = '/etc/pcidp/config.json';
/** A device plugin config is a few KB; a bigger file (or /dev/zero) is refused, not read into memory. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export function selectorList(r: DpResource): DpSelector[] {
  if (!r.selectors) return [{}];
  return Array.isArray(r.selectors) ? r.selectors : [r.selectors];
}

export function fullName(r: DpResource): string {
  return `${r.resourcePrefix ?? DEFAULT_PREFIX}/${r.resourceName}`;
}
