import { bdfOf } from '../../device/pci.js';
import { quote } from '../../cni/quote.js';
import { lastKnown, lastKnownFile, saveLastKnown, type LastKnown } from '../../state/last-known.js';
import { loadMarker } from '../../state/store.js';
import type { Host } from '../../sys/host.js';
import { isLiveNetns, netnsMayBeAlive } from '../../sys/netns.js';
import { failed, refused } from '../shared/errors.js';
import { iommuState, vfioGroupNode } from '../shared/iommu.js';
import { holdersOf, holdersText } from '../shared/open-files.js';
import { userspaceNodes, vfHolderReasons } from '../shared/vf-holders.js';
import { pciDir } from '../../device/sysfs.js';
import { hostUseReasons, netdevUsage, numVfs, vfHostUseReasons, vfsUsedByHost } from '../../net/usage.js';
import { vfsInUse, vfUseReasons } from '../../state/vf-use.js';
import { isNetworkClass, isUserspaceDriver, netdevFacts, readDevice, type NodeDevice } from '../../device/scan.js';

/**
 * Driver binding the way the kernel documents it (Documentation/ABI/testing/sysfs-bus-pci):
 * write the driver's name to <dev>/driver_override, unbind the device from its current driver,
 * then ask the bus to probe it (/sys/bus/pci/drivers_probe): only the named driver may take it.
 * "kernel" clears the override, so the kernel's own ID matching picks the driver again.
 */
export type Target = { kind: 'driver'; name: string } | { kind: 'kernel' } | { kind: 'none' };

interface SysWrite {
  /** kernel path (without DPDK_CNI_ROOT) */
  path: string;
  value: string;
}

export interface DevView {
  driver?: string;
  override?: string;
  netdev?: string;
  mac?: string;
  mtu?: number;
  iommuGroup?: string;
  vfioNode?: string;
}

export interface BindPlan {
  pci: string;
  target: Target;
  before: DevView;
  /** nothing to do: already as asked */
  unchanged: boolean;
  modprobe?: string;
  lastKnown?: LastKnown;
  writes: SysWrite[];
  notes: string[];
  /** steps carried out so far (filled by executeBind, also when it fails half-way) */
  done: string[];
}

export interface BindOutcome extends BindPlan {
  after: DevView;
}

const DRIVER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function parseTarget(raw: string): Target {
  if (raw === 'kernel') return { kind: 'kernel' };
  if (!DRIVER_RE.test(raw)) {
    throw failed(`invalid driver name ${quote(raw)}: a driver name is letters, digits, "_", "-" or "." (e.g. vfio-pci, igb_uio, uio_pci_generic, ice), or "kernel" for the device's own kernel driver`);
  }
  return { kind: 'driver', name: raw };
}

export function targetText(t: Target): string {
  return t.kind === 'driver' ? t.name : t.kind === 'kernel' ? 'its kernel driver' : 'no driver';
}

/** A PCI address typed on the command line, lower-cased (device/pci.ts bdfOf); a tool error if it is not one. */
export function checkAddress(raw: string): string {
  const bdf = bdfOf(raw);
  if (bdf === undefined) {
    throw failed(`${quote(raw)} is not a PCI address: use the full form dddd:bb:dd.f, e.g. 0000:00:06.0 (see "dpdk-cni bind --status" or "lspci -D")`);
  }
  return bdf;
}

function viewOf(host: Host, d: NodeDevice): DevView {
  const v: DevView = {};
  if (d.driver) v.driver = d.driver;
  if (d.override) v.override = d.override;
  if (d.netdev) {
    v.netdev = d.netdev;
    Object.assign(v, netdevFacts(host, d.pci, d.netdev));
  }
  if (d.iommuGroup) {
    v.iommuGroup = d.iommuGroup;
    if (d.driver === 'vfio-pci') v.vfioNode = vfioGroupNode(host, d.iommuGroup);
  }
  return v;
}

function mustRead(host: Host, pci: string): NodeDevice {
  const d = readDevice(host, pci);
  if (!d) throw failed(`no PCI device ${pci} on this node (no ${host.p(`/sys/bus/pci/devices/${pci}`)}): check the address with "dpdk-cni bind --status" or "lspci -D"`);
  return d;
}

/** Safety checks that --force overrides: a non-network device, a netdev in use, a pod using it. */
function safety(host: Host, d: NodeDevice, force: boolean, notes: string[]): void {
  const problems: string[] = [];
  const todo: string[] = [];
  if (!isNetworkClass(d.pciClass)) {
    problems.push(`${d.pci} is not a network device (PCI class ${d.pciClass ?? 'unknown'}); the host may depend on it`);
    todo.push(`check the address ("lspci -D -s ${d.pci}"; "dpdk-cni bind --status" lists the network devices)`);
  }
  if (d.driver && !isUserspaceDriver(d.driver) && isNetworkClass(d.pciClass) && !d.netdev && d.vdpa.length === 0) {
    // sysfs lists only the netdevs of the reader's network namespace: a NIC on its kernel driver
    // without one has it elsewhere — usually in a pod, moved there by sriov-cni or host-device
    // (dpdk-cni's own attachments have a marker, checked below)
    problems.push(`${d.pci} is on the kernel driver ${d.driver} but has no netdev in this network namespace: another CNI plugin (sriov-cni, host-device) probably moved it into a pod, which would lose it (or the driver failed to create one)`);
    todo.push(`find where it is ("dpdk-cni inspect ${d.pci}", "ip -all netns exec ip -br link") and delete that pod first`);
  }
  if (d.netdev) {
    const u = netdevUsage(host, d.netdev);
    const why = hostUseReasons(d.netdev, u);
    if (why.length > 0) {
      problems.push(`the host is using its netdev: ${why.join('; ')}`);
      todo.push(`take ${d.netdev} out of the host's use (its addresses, routes, master, upper devices)`);
    } else if (!u.present) notes.push(`netdev ${d.netdev} is not in this network namespace; its use was not checked`);
  }
  // rebinding or unbinding a PF destroys its VFs, also those in pods and those the host uses
  if (numVfs(host, d.pci) > 0) {
    const vfProblems = [...vfUseReasons(d.pci, vfsInUse(host, d.pci)), ...vfHostUseReasons(d.pci, vfsUsedByHost(host, d.pci)), ...vfHolderReasons(host, d.pci)];
    problems.push(...vfProblems.map((r) => `${r}; rebinding the PF destroys them`));
    if (vfProblems.length > 0) todo.push('move those VFs\' users away first');
  }
  // a userspace driver's char device held open (a DPDK app, a VM): the unbind would wait for it to let go
  const nodes = userspaceNodes(host, d);
  if (nodes.length > 0) {
    const holders = holdersOf(host, nodes);
    if (holders.length > 0) {
      problems.push(`${holdersText(holders)}: a DPDK application or VM is using it (the kernel's unbind waits until it lets go)`);
      todo.push('stop that process (or the pod or VM it belongs to) first');
    }
  }
  // its vDPA devices go with its driver: a /dev/vhost-vdpa-N a VM or DPDK application holds
  const vhost = d.vdpa.flatMap((v) => (v.chardev ? [v.chardev] : []));
  const vdpaHolders = vhost.length > 0 ? holdersOf(host, vhost) : [];
  if (vdpaHolders.length > 0) {
    problems.push(`its vDPA device is in use: ${holdersText(vdpaHolders)} (unbinding the parent removes its vDPA devices)`);
    todo.push('stop that process (or the pod or VM it belongs to) first');
  }
  const m = loadMarker(host, d.pci);
  if (m) {
    if (netnsMayBeAlive(m.netns)) {
      problems.push(`dpdk-cni attached it to container ${m.key.containerID} (network ${m.key.net}, ${m.key.ifname}) whose network namespace ${m.netns} is alive${isLiveNetns(m.netns) ? '' : ' (or cannot be inspected: permission denied)'}`);
      todo.push('delete that pod first');
    } else notes.push(`a stale allocation by container ${m.key.containerID} (netns gone) exists; the next CNI ADD or GC releases it`);
  }
  if (problems.length === 0) return;
  if (force) {
    notes.push(`--force: going ahead although ${problems.join('; ')}`);
    return;
  }
  const what = todo.join('; ');
  throw refused(`refusing to rebind ${d.pci}: ${problems.join('; ')}. ${what.charAt(0).toUpperCase()}${what.slice(1)}, or pass --force`);
}

function driverDir(host: Host, name: string): string {
  return host.p(`/sys/bus/pci/drivers/${name}`);
}

/** vfio-pci probes only devices with an IOMMU group, or any device in vfio's no-IOMMU mode. */
function checkVfio(host: Host, d: NodeDevice): void {
  if (d.iommuGroup) return;
  if (iommuState(host).noiommu) return;
  throw failed(
    `vfio-pci cannot take ${d.pci}: it has no IOMMU group and vfio's no-IOMMU mode is off. ` +
      'Enable the IOMMU (intel_iommu=on or amd_iommu=on on the kernel command line, then reboot), or on a VM without a vIOMMU ' +
      '(e.g. AWS EC2) accept the unsafe no-IOMMU mode: "echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode" ' +
      '(persist with "options vfio enable_unsafe_noiommu_mode=1" in /etc/modprobe.d/vfio.conf)',
  );
}

/** Decide what to do for one device; reads only. */
export function planBind(host: Host, pci: string, target: Target, opts: { force: boolean }): BindPlan {
  const d = mustRead(host, pci);
  const before = viewOf(host, d);
  const plan: BindPlan = { pci, target, before, unchanged: false, writes: [], notes: [], done: [] };
  const dev = `/sys/bus/pci/devices/${pci}`;

  if (target.kind === 'driver' && d.driver === target.name) {
    plan.unchanged = true;
    return plan;
  }
  if (target.kind === 'kernel' && d.driver && !isUserspaceDriver(d.driver) && !d.override) {
    plan.unchanged = true;
    plan.notes.push(`already on its kernel driver ${d.driver}`);
    return plan;
  }
  if (target.kind === 'none' && !d.driver && !d.override) {
    plan.unchanged = true;
    return plan;
  }
  if (d.driver) safety(host, d, opts.force, plan.notes);

  if (target.kind === 'driver') {
    if (!host.fs.exists(driverDir(host, target.name))) {
      if (host.root) {
        throw failed(`driver ${target.name} is not registered (no ${driverDir(host, target.name)}) and this is a simulated node (DPDK_CNI_ROOT=${host.root}), where kernel modules cannot be loaded`);
      }
      plan.modprobe = target.name;
    }
    if (target.name === 'vfio-pci' && !plan.modprobe) checkVfio(host, d);
  }
  if (d.netdev && target.kind !== 'kernel') {
    const f = netdevFacts(host, pci, d.netdev);
    const k: LastKnown = { pci, netdev: d.netdev };
    if (f.mac) k.mac = f.mac;
    if (f.mtu !== undefined) k.mtu = f.mtu;
    if (d.driver) k.driver = d.driver;
    plan.lastKnown = k;
  }
  if (target.kind === 'driver') {
    plan.writes.push({ path: `${dev}/driver_override`, value: target.name });
    if (d.driver) plan.writes.push({ path: `/sys/bus/pci/drivers/${d.driver}/unbind`, value: pci });
    plan.writes.push({ path: '/sys/bus/pci/drivers_probe', value: pci });
  } else if (target.kind === 'kernel') {
    if (d.override) plan.writes.push({ path: `${dev}/driver_override`, value: '\n' });
    if (d.driver) plan.writes.push({ path: `/sys/bus/pci/drivers/${d.driver}/unbind`, value: pci });
    plan.writes.push({ path: '/sys/bus/pci/drivers_probe', value: pci });
  } else {
    if (d.driver) plan.writes.push({ path: `/sys/bus/pci/drivers/${d.driver}/unbind`, value: pci });
    if (d.override) plan.writes.push({ path: `${dev}/driver_override`, value: '\n' });
  }
  return plan;
}

function loadModule(host: Host, name: string): void {
  const modprobe = host.tool('modprobe');
  const r = host.exec(modprobe, [name]);
  if (r.code !== 0) {
    throw failed(`${modprobe} ${name} failed: ${r.stderr.trim() || `exit ${r.code}`}. Install the module for this kernel (igb_uio is out of tree: build it from dpdk-kmods) or pick another driver`);
  }
  if (!host.fs.exists(driverDir(host, name))) {
    throw failed(`${modprobe} ${name} succeeded but no PCI driver named ${name} appeared in /sys/bus/pci/drivers: the module's PCI driver has another name (see "ls /sys/bus/pci/drivers")`);
  }
}

function kernelHint(host: Host, pci: string): string {
  const was = lastKnown(host, pci)?.driver;
  return `: no kernel driver claimed it; load its driver module (modprobe <module>)${was ? `; it was on ${was} before` : ''} and check "dmesg | tail"`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function settled(d: NodeDevice | undefined, t: Target): boolean {
  if (!d) return false;
  if (t.kind === 'driver') return d.driver === t.name;
  if (t.kind === 'none') return !d.driver;
  return d.driver !== undefined && !isUserspaceDriver(d.driver) && d.netdev !== undefined;
}

/** Carry out a plan: record the netdev's facts, load the module, write sysfs, wait for the kernel. */
export async function executeBind(host: Host, plan: BindPlan, timeoutMs: number): Promise<BindOutcome> {
  if (plan.unchanged) return { ...plan, after: plan.before };
  const { pci, target } = plan;
  if (plan.modprobe) {
    loadModule(host, plan.modprobe);
    plan.done.push(`loaded ${plan.modprobe} (modprobe)`);
    if (plan.modprobe === 'vfio-pci') checkVfio(host, mustRead(host, pci));
  }
  if (plan.lastKnown) {
    try {
      saveLastKnown(host, plan.lastKnown);
    } catch (e) {
      throw failed(`cannot record ${pci}'s MAC/MTU before the rebind (${(e as Error).message}); the device was not touched`);
    }
    plan.done.push(lastKnownText(host, plan.lastKnown, 'recorded'));
  }
  const overridePath = `/sys/bus/pci/devices/${pci}/driver_override`;
  for (const w of plan.writes) {
    try {
      host.fs.writeAttr(host.p(w.path), w.value);
    } catch (e) {
      const msg = `writing ${JSON.stringify(w.value.trim())} to ${w.path} failed: ${(e as Error).message}. Check "dmesg | tail" for the kernel's reason`;
      throw failed(`${msg}${undoOverride(host, plan, overridePath)}`);
    }
    plan.done.push(writeText(w, 'wrote'));
  }
  const deadline = Date.now() + timeoutMs;
  let d = readDevice(host, pci);
  while (!settled(d, target) && Date.now() < deadline) {
    await sleep(50);
    d = readDevice(host, pci);
  }
  const after = d ? viewOf(host, d) : {};
  if (settled(d, target)) return { ...plan, after };
  if (target.kind === 'kernel' && d?.driver && !isUserspaceDriver(d.driver)) {
    // bound to its kernel driver, the netdev did not show up (yet): report, do not fail
    return { ...plan, after, notes: [...plan.notes, `${d.driver} bound it but no netdev appeared within ${timeoutMs} ms`] };
  }
  const now = d?.driver ? `bound to ${d.driver}` : 'bound to no driver';
  const why = host.root
    ? ` — DPDK_CNI_ROOT=${host.root} is a simulated node, where no kernel acts on the writes`
    : target.kind === 'kernel'
      ? kernelHint(host, pci)
      : '. Check "dmesg | tail" for the driver\'s probe error';
  throw failed(`after the sysfs writes, ${pci} is ${now}, not ${targetText(target)}, within ${timeoutMs} ms${why}`);
}

/**
 * A write failed before the device left its driver (the unbind, or the probe after it): a
 * driver_override already written would make the device jump to the new driver at its next probe
 * (a driver reload, a rescan) long after this command reported failure. Put it back as it was.
 * Returns what to add to the error message.
 */
function undoOverride(host: Host, plan: BindPlan, overridePath: string): string {
  const wrote = plan.done.includes(writeText(plan.writes.find((w) => w.path === overridePath) ?? { path: '', value: '' }, 'wrote'));
  if (!wrote) return '';
  const left = plan.writes.find((w) => w.path.endsWith('/unbind'));
  if (left && plan.done.includes(writeText(left, 'wrote'))) return ''; // it left its driver: the override is what binds it now
  const prev = plan.before.override ?? '\n';
  try {
    host.fs.writeAttr(host.p(overridePath), prev);
    plan.done.push(writeText({ path: overridePath, value: prev }, 'wrote'));
    return `; driver_override was put back to ${plan.before.override ? JSON.stringify(plan.before.override) : 'none'}, the device is as it was`;
  } catch (e) {
    return `; putting driver_override back failed too (${(e as Error).message}): clear it with "echo > ${overridePath}"`;
  }
}

export function writeText(w: SysWrite, verb: string): string {
  return `${verb} ${JSON.stringify(w.value)} to ${w.path}`;
}

export function lastKnownText(host: Host, k: LastKnown, verb: string): string {
  return `${verb} ${k.netdev}'s MAC ${k.mac ?? '?'} and MTU ${k.mtu ?? '?'} in ${lastKnownFile(host, k.pci).slice(host.root.length)}`;
}
