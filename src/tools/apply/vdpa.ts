import { listVdpa, readFunction } from '../../device/scan.js';
import { loadMarker } from '../../state/store.js';
import type { Host } from '../../sys/host.js';
import { netnsMayBeAlive } from '../../sys/netns.js';
import { failed, refused } from '../shared/errors.js';
import { holdersOf, holdersText } from '../shared/open-files.js';
import type { NodeFile, VdpaWanted } from './schema.js';
import { vfsStepFate } from './vfs.js';
import { withDeviceLocks } from './locks.js';
import { unchanged, type Step } from './step.js';

const BUS = '/sys/bus/vdpa';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the vDPA device `name` on `parent` may not be rebound: a pod or a process holds it. */
function inUse(host: Host, parent: string | undefined, chardev: string | undefined): string[] {
  const why: string[] = [];
  const m = parent ? loadMarker(host, parent) : undefined;
  if (m && netnsMayBeAlive(m.netns)) why.push(`dpdk-cni attached ${parent} to container ${m.key.containerID} (network ${m.key.net}) whose network namespace is alive`);
  if (chardev) {
    const h = holdersOf(host, [chardev]);
    if (h.length > 0) why.push(holdersText(h));
  }
  return why;
}

function bindWrites(name: string, from: string | undefined, to: string): Array<{ path: string; value: string }> {
  return [...(from ? [{ path: `${BUS}/drivers/${from}/unbind`, value: name }] : []), { path: `${BUS}/drivers/${to}/bind`, value: name }];
}

function writeAll(host: Host, ws: Array<{ path: string; value: string }>, done: string[]): void {
  for (const w of ws) {
    try {
      host.fs.writeAttr(host.p(w.path), w.value);
    } catch (e) {
      throw failed(`writing "${w.value}" to ${w.path} failed: ${(e as Error).message}${done.length > 0 ? ` (done: ${done.join('; ')})` : ''}`);
    }
    done.push(`wrote "${w.value}" to ${w.path}`);
  }
}

/** The bus driver's module when its driver directory is missing (never on a simulated node). */
function ensureDriver(host: Host, driver: string, done: string[]): void {
  if (host.fs.exists(host.p(`${BUS}/drivers/${driver}`))) return;
  if (host.root) throw failed(`the vDPA bus driver ${driver} is not loaded and DPDK_CNI_ROOT=${host.root} is a simulated node, where modules cannot be loaded`);
  const r = host.exec(host.tool('modprobe'), [driver]);
  if (r.code !== 0) throw failed(`modprobe ${driver} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  done.push(`loaded ${driver} (modprobe)`);
}

/**
 * A vDPA device: made with `vdpa dev add name N mgmtdev pci/X [mac M]` when missing, then put on
 * the bus driver asked for (unbind from the one the kernel chose, bind to the wanted one). An
 * existing device on another driver is rebound unless a pod or a process holds it.
 */
export interface VdpaContext {
  /** the node file's vfs entries: a parent may be a VF they make */
  vfs?: NodeFile['vfs'];
  /** the rule's name in messages (vdpa.N) */
  at?: string;
  /** the drivers step of the same file rebinds the parent first: its vDPA devices are made anew */
  parentRebound?: boolean;
}

export function planVdpa(host: Host, v: VdpaWanted, timeoutMs: number, ctx: VdpaContext = {}): Step {
  const at = ctx.at ?? 'vdpa';
  const id = `vdpa:${v.name}`;
  const parent = v.mgmtdev.slice(4).toLowerCase();
  const what = `vDPA device ${v.name} on ${parent}, ${v.driver}`;
  // a parent the vfs step of the same file makes (at boot: no VFs yet) or re-makes (its vDPA
  // devices go with the old VF): the device is made once the VF is there
  const fate = vfsStepFate(host, ctx.vfs, parent);
  if (fate?.fate === 'removed') throw failed(`${at}: ${parent} is VF ${fate.index} of ${fate.pf}, which vfs.${fate.rule} removes (${fate.pf} will have ${fate.count} VF(s))`);
  // made anew after an earlier step: by the vfs step (the VF) or the drivers step (the parent's driver)
  const later = fate ? ` once ${fate.pf}'s VF ${fate.index} is there` : ctx.parentRebound ? ` once ${parent} is on its new driver` : '';
  // (a parent's rebind that would pull a held vDPA device is refused by the drivers step: bind's checks)
  const cur = later ? undefined : listVdpa(host).find((x) => x.name === v.name);
  if (cur) {
    if (cur.parent !== parent) throw failed(`${at}: ${v.name} exists on ${cur.parent ?? 'another device'}, not on ${parent}: delete it (vdpa dev del ${v.name}) or pick another name`);
    if (cur.driver === v.driver) return unchanged(id, what, v.mac ? ['an existing device keeps its MAC (vdpa dev add sets it only when it makes the device)'] : []);
    const why = inUse(host, parent, cur.chardev);
    if (why.length > 0) throw refused(`${at}: refusing to move ${v.name} from ${cur.driver} to ${v.driver}: ${why.join('; ')}`);
    const ws = bindWrites(v.name, cur.driver, v.driver);
    return {
      id, what: `${what} (now ${cur.driver ?? 'no driver'})`, unchanged: false, notes: [], actions: ws.map((w) => `write "${w.value}" to ${w.path}`),
      run: () =>
        withDeviceLocks(host, [parent], async () => {
          const again = inUse(host, parent, cur.chardev);
          if (again.length > 0) throw refused(`${at}: refusing to move ${v.name} from ${cur.driver} to ${v.driver}: ${again.join('; ')}`);
          const done: string[] = [];
          ensureDriver(host, v.driver, done);
          writeAll(host, ws, done);
          return done;
        }),
    };
  }
  if (!fate && !readFunction(host, parent)) throw failed(`${at}: no PCI device ${parent} on this node (mgmtdev ${v.mgmtdev})`);
  const add = ['dev', 'add', 'name', v.name, 'mgmtdev', v.mgmtdev, ...(v.mac ? ['mac', v.mac] : [])];
  return {
    id, what, unchanged: false, notes: [],
    actions: [`vdpa ${add.join(' ')}${later}`, `bind ${v.name} to ${v.driver} if the kernel chose another driver`],
    run: async () => {
      const done: string[] = [];
      if (host.root) throw failed(`vdpa dev add cannot make a device on a simulated node (DPDK_CNI_ROOT=${host.root})`);
      ensureDriver(host, v.driver, done);
      const tool = host.tool('vdpa');
      // a VF the vfs step just made, or a parent the drivers step just bound, registers its
      // management device when its driver has probed it
      const ready = Date.now() + (later ? timeoutMs : 0);
      let r = host.exec(tool, add);
      while (r.code !== 0 && Date.now() < ready) {
        await sleep(100);
        r = host.exec(tool, add);
      }
      if (r.code !== 0) throw failed(`${tool} ${add.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}${done.length > 0 ? ` (done: ${done.join('; ')})` : ''}`);
      done.push(`ran vdpa ${add.join(' ')}`);
      // the bus probes the new device: wait until it is on a driver (or the time is up)
      const deadline = Date.now() + timeoutMs;
      let now = listVdpa(host).find((x) => x.name === v.name);
      while ((!now || now.driver === undefined) && Date.now() < deadline) {
        await sleep(50);
        now = listVdpa(host).find((x) => x.name === v.name);
      }
      if (!now) throw failed(`vdpa dev add succeeded but ${BUS}/devices/${v.name} did not appear (done: ${done.join('; ')})`);
      if (now.driver !== v.driver) {
        try {
          writeAll(host, bindWrites(v.name, now.driver, v.driver), done);
        } catch (e) {
          // not half-made: the device this step made goes again
          host.exec(tool, ['dev', 'del', v.name]);
          throw failed(`${(e as Error).message}; removed ${v.name} again (vdpa dev del)`);
        }
      }
      return done;
    },
  };
}
