/**
 * The node the fuzzer runs against: DPDK-mode devices only (nothing is ever moved between network
 * namespaces), a private CNI_PATH holding just host-local and static (so no fuzzed ipam.type can
 * name another program), host-local's dataDir forced inside the root, and a fingerprint of every
 * file and directory under the root to prove what an invalid input did not change.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SimNode } from '../../../src/sim/simnode.js';
import { CNI_PLUGINS } from '../../helpers/cni.js';
import { scratchBase, STATE } from './world.js';

export const LIVE = `/proc/${process.pid}/ns/net`;

export class FuzzHost {
  readonly dir = mkdtempSync(join(scratchBase(), 'dpdk-cni-fuzz-'));
  readonly node: SimNode;
  readonly plugins: string;
  readonly devices: string[];
  readonly pfNetdev = `fz${randomBytes(3).toString('hex')}`;

  constructor() {
    this.node = new SimNode(join(this.dir, 'node'));
    this.node.pci('0000:00:06.0', { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
    const vfs = this.node.sriovPf('0000:3b:00.0', { netdev: this.pfNetdev, numVfs: 4, mtu: 9000 });
    this.node.pci('0000:00:09.0', { driver: 'nvme' }); // refused: neither DPDK nor netdev
    this.node.pci('0000:00:0a.0', {}); // no driver
    this.devices = ['0000:00:06.0', ...vfs];
    this.plugins = join(this.dir, 'plugins');
    mkdirSync(this.plugins);
    for (const p of ['host-local', 'static']) symlinkSync(join(CNI_PLUGINS, p), join(this.plugins, p));
  }

  get root(): string {
    return this.node.root;
  }
  get ipamDir(): string {
    return join(this.root, 'ipam');
  }

  /** Back to the state before any call: no attachments, markers, leases, logs, device-info files. */
  reset(): void {
    for (const d of ['var', 'run', 'ipam']) rmSync(join(this.root, d), { recursive: true, force: true });
  }

  /**
   * Every file and directory under the root with type, mode, size and mtime, except: log files
   * under var/log (a call may log there, and that is its job), the state directories themselves
   * (their files are included), and host-local's own bookkeeping in its dataDir (its leases are
   * included), directories on the way to the Device-Info directories (created for a permitted
   * path when ADD plans the file; their files are included). The simulated sysfs (static, ~150 entries) is skipped unless `withSys`: the
   * fuzzer compares it once per property instead of once per case.
   */
  fingerprint(withSys = false): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir)) {
        const p = join(dir, e);
        const rel = p.slice(this.root.length + 1);
        const st = lstatSync(p);
        if (rel === 'var/log' || rel.startsWith('var/log/')) continue;
        if (!withSys && rel === 'sys') continue;
        const stateDir = st.isDirectory() && (`${STATE}/`.startsWith(`${rel}/`) || /^var\/lib\/cni\/dpdk-cni\/[^/]+$/.test(rel));
        const ipamOwn = rel.startsWith('ipam/') && !/\/\d+\.\d+\.\d+\.\d+$/.test(rel) && !st.isDirectory();
        const ipamDir = rel === 'ipam' || (rel.startsWith('ipam/') && st.isDirectory());
        // parents of a permitted device-info path are created when ADD plans the file
        const devinfoDir = st.isDirectory() && /^(var\/)?run(\/k8s\.cni\.cncf\.io(\/|$)|$)|^var$/.test(rel);
        if (devinfoDir) {
          walk(p);
          continue;
        }
        if (stateDir || ipamOwn || ipamDir) {
          if (st.isDirectory()) walk(p);
          continue;
        }
        out.set(rel, st.isDirectory() ? `dir ${(st.mode & 0o7777).toString(8)}` : `${st.isSymbolicLink() ? 'link' : 'file'} ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.mtimeMs}`);
        if (st.isDirectory()) walk(p);
      }
    };
    walk(this.root);
    return out;
  }

  static changes(a: Map<string, string>, b: Map<string, string>): string[] {
    const out: string[] = [];
    for (const [k, v] of b) if (a.get(k) !== v) out.push(`${a.has(k) ? 'changed' : 'created'} ${k} (${v})`);
    for (const k of a.keys()) if (!b.has(k)) out.push(`removed ${k}`);
    return out;
  }

  stateFiles(): string[] {
    const dir = join(this.root, STATE);
    if (!existsSync(dir)) return [];
    const out: string[] = [];
    for (const sub of readdirSync(dir)) {
      const p = join(dir, sub);
      if (lstatSync(p).isDirectory()) for (const f of readdirSync(p)) out.push(`${sub}/${f}`);
      else out.push(sub);
    }
    return out.sort();
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
