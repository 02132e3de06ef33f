import { CniError, Code } from '../cni/errors.js';

/**
 * dpdk-cni must never run itself as its IPAM plugin. A NAD with `"ipam": {"type": "dpdk-cni"}`
 * (dpdk-cni is in CNI_PATH) made every call start a copy of itself that started another: ADD
 * waited on its own device lock, DEL and GC recursed without end, a process explosion that killing
 * the top process did not stop (each IPAM call runs in a process group of its own).
 *
 * Two guards: the netconf names dpdk-cni itself (refused for ADD/CHECK/STATUS, skipped by DEL/GC,
 * which have nothing to release from it), and, whatever file name a copy was given, every IPAM
 * plugin dpdk-cni starts gets IPAM_CHILD_ENV in its environment: a dpdk-cni started with it refuses
 * at once.
 */
export const IPAM_CHILD_ENV = 'DPDK_CNI_IPAM_DEPTH';

/** The environment marks this process as an IPAM plugin started by dpdk-cni. */
export function startedAsIpam(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env[IPAM_CHILD_ENV]);
}

export function startedAsIpamError(): CniError {
  return new CniError(
    Code.InvalidConfig,
    `dpdk-cni cannot be its own IPAM plugin: it was started by dpdk-cni as the IPAM plugin (${IPAM_CHILD_ENV} is set), so "ipam.type" names a copy of dpdk-cni in CNI_PATH; set "ipam.type" to an IPAM plugin (e.g. host-local, whereabouts) or remove "ipam"`,
  );
}

/**
 * The netconf's IPAM plugin is dpdk-cni: `ipam.type` is "dpdk-cni", or the name the runtime ran
 * this plugin under (its `type`: the runtime looked it up in the same CNI_PATH).
 */
export function ipamIsSelf(netconf: { type?: unknown; ipam?: { type?: unknown } | undefined }): boolean {
  const t = netconf.ipam?.type;
  if (typeof t !== 'string' || t === '') return false;
  return t === 'dpdk-cni' || t === netconf.type;
}

export function ipamIsSelfError(type: string): CniError {
  return new CniError(
    Code.InvalidConfig,
    `invalid network configuration: field "ipam.type" ${JSON.stringify(type)} names dpdk-cni itself, and dpdk-cni cannot be its own IPAM plugin; set "ipam.type" to an IPAM plugin (e.g. host-local, whereabouts) or remove "ipam"`,
  );
}
