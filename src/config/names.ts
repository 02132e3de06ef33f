/**
 * Name rules shared by the netconf, the CNI environment and the state files read back (which must
 * accept exactly what was accepted when they were written). No dependencies: VERSION loads it.
 */

/** Network names, container IDs and plugin file names (libcni's rule; no "/" and no "@"). */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A 6-byte MAC address, xx:xx:xx:xx:xx:xx. */
export const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
