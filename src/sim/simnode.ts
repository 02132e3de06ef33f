// The simulated node: a sysfs tree laid out like the kernel's under a root directory, used as
// DPDK_CNI_ROOT by the tests, the demo, the benchmarks and the build's smoke runs. Tests import
// this file; Node scripts (demo/, bench/, build/) import dist/sim/simnode.mjs, which
// build/bundle.mjs compiles from it. It is never part of the plugin's bundle.
//
// Links are relative, as in real sysfs:
//   sys/bus/pci/devices/<bdf> -> ../../../devices/pci0000:00/<...>/<bdf>
//   <dev>/driver -> ../../../bus/pci/drivers/<drv>  (depth-correct), <dev>/iommu_group,
//   VF: <vf>/physfn -> ../<pf>; PF: virtfnN -> ../<vf>, sriov_offset/stride/numvfs
//   kernel netdev: <dev>/net/<ifname>/{address,mtu}; virtio-net: <dev>/virtioN/net/<ifname>
//   vDPA: <dev>/vdpaN/{driver -> bus/vdpa/drivers/..., vhost-vdpa-M/}; sys/bus/vdpa/devices/vdpaN
//   <dev>/{class,driver_override}; sys/bus/pci/{drivers_probe,drivers_autoprobe,rescan,uevent};
//   sys/bus/pci/drivers/<drv>/{bind,unbind,new_id,remove_id,uevent,module -> ../../../../module/<mod>}
//   (write-only kernel attributes are plain files here: a test reads back what a tool wrote)
//   node-level: sys/class/iommu/<unit>, sys/module/vfio/parameters/enable_unsafe_noiommu_mode,
//   sys/kernel/iommu_groups/N/name ("vfio-noiommu"), dev/vfio/{vfio,N,noiommu-N} (plain files),
//   sys/kernel/mm/hugepages/hugepages-<kB>kB/*, proc/mounts
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

/** A PCI function: ids, NUMA node, driver, parent PF, IOMMU group (false = none, as without an IOMMU). */
export interface PciOpts {
  vendor?: string;
  device?: string;
  numa?: number;
  driver?: string;
  parent?: string;
  iommuGroup?: number | false;
  /** PCI class code; default 0x020000 (Ethernet). */
  pciClass?: string;
}

/** A kernel netdev's attributes; virtio = N puts it under <dev>/virtioN/net/ (virtio-net). */
export interface NetdevOpts {
  mac?: string;
  mtu?: number;
  virtio?: number;
}

/** One VF of sriovPf(): its driver, and a kernel netdev if it has one. */
export interface VfOpts extends NetdevOpts {
  driver?: string;
  netdev?: string;
}

/** An SR-IOV PF: its uplink netdev and driver, how many VFs, their routing (offset, stride) and drivers. */
export interface SriovPfOpts {
  netdev?: string;
  numVfs?: number;
  driver?: string;
  mtu?: number;
  offset?: number;
  stride?: number;
  vfDriver?: string;
  vfOpts?: (index: number) => VfOpts;
}

/** The vDPA bus driver a vDPA device is bound to. */
export type VdpaDriver = 'vhost_vdpa' | 'virtio_vdpa';

/** A vDPA device: its vhost-vdpa-N index, and (virtio_vdpa) the virtio-net netdev it makes. */
export interface VdpaOpts {
  index?: number;
  netdev?: string;
  mac?: string;
}

/** Write a file, making its directory. */
function w(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** Make link point at target with a relative path, replacing whatever was there. */
function ln(target: string, link: string): void {
  mkdirSync(dirname(link), { recursive: true });
  try {
    lstatSync(link);
    rmSync(link, { recursive: true, force: true });
  } catch {
    /* absent */
  }
  symlinkSync(relative(dirname(link), target), link);
}

/** A PCI address dddd:bb:dd.f from its parts. */
export function bdf(bus: number, dev: number, fn: number, domain = 0): string {
  const h = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  return `${h(domain, 4)}:${h(bus, 2)}:${h(dev, 2)}.${fn}`;
}

/** A VF's address from the PF's routing ID + offset + stride*index (as the kernel computes it). */
export function vfAddress(pf: string, index: number, offset = 16, stride = 1): string {
  const [dom = '0', bus = '0', devfn = '0.0'] = pf.split(':');
  const [dev = '0', fn = '0'] = devfn.split('.');
  const rid = (parseInt(bus, 16) << 8) | (parseInt(dev, 16) << 3) | parseInt(fn, 10);
  const v = rid + offset + stride * index;
  return bdf((v >> 8) & 0xff, (v >> 3) & 0x1f, v & 7, parseInt(dom, 16));
}

export class SimNode {
  /** The node's root (real path): what DPDK_CNI_ROOT points at. */
  readonly root: string;
  /** The next IOMMU group number to hand out. */
  private groups = 10;

  constructor(root: string) {
    mkdirSync(root, { recursive: true });
    this.root = realpathSync(root);
    mkdirSync(join(root, 'sys/devices/pci0000:00'), { recursive: true });
    mkdirSync(join(root, 'sys/bus/pci/devices'), { recursive: true });
    mkdirSync(join(root, 'sys/class/net'), { recursive: true });
    for (const f of ['drivers_probe', 'rescan', 'uevent']) w(join(this.root, 'sys/bus/pci', f), '');
    w(join(this.root, 'sys/bus/pci/drivers_autoprobe'), '1\n');
    mkdirSync(join(this.root, 'sys/bus/pci/drivers'), { recursive: true });
  }

  /** Where a function's directory lives under sys/devices (beside its parent PF if it has one). */
  devDir(addr: string, parent?: string): string {
    return parent ? join(dirname(this.devDir(parent)), addr) : join(this.root, 'sys/devices/pci0000:00', addr);
  }

  /** A PCI function, with a driver if opts.driver is given; returns its directory. */
  pci(addr: string, opts: PciOpts = {}): string {
    const d = this.devDir(addr, opts.parent);
    mkdirSync(d, { recursive: true });
    w(join(d, 'vendor'), `0x${opts.vendor ?? '8086'}\n`);
    w(join(d, 'device'), `0x${opts.device ?? '154c'}\n`);
    w(join(d, 'numa_node'), `${opts.numa ?? 0}\n`);
    w(join(d, 'class'), `${opts.pciClass ?? '0x020000'}\n`);
    w(join(d, 'driver_override'), '(null)\n');
    ln(d, join(this.root, 'sys/bus/pci/devices', addr));
    if (opts.driver) this.bind(addr, opts.driver);
    if (opts.iommuGroup === false) return d;
    const g = opts.iommuGroup ?? this.groups++;
    mkdirSync(join(this.root, 'sys/kernel/iommu_groups', String(g), 'devices'), { recursive: true });
    ln(join(this.root, 'sys/kernel/iommu_groups', String(g)), join(d, 'iommu_group'));
    ln(d, join(this.root, 'sys/kernel/iommu_groups', String(g), 'devices', addr));
    return d;
  }

  /** Bind a function to a driver (registering the driver); '' leaves it unbound. */
  bind(addr: string, driver: string): string {
    const d = join(this.root, 'sys/bus/pci/devices', addr);
    mkdirSync(join(this.root, 'sys/bus/pci/drivers', driver), { recursive: true });
    if (driver) this.driver(driver);
    const real = this.realDir(addr);
    rmSync(join(real, 'driver'), { force: true });
    if (driver) ln(join(this.root, 'sys/bus/pci/drivers', driver), join(real, 'driver'));
    return d;
  }

  /** A registered PCI driver (its sysfs directory, attribute files and module link). */
  driver(name: string, module = name.replace(/-/g, '_')): string {
    const dd = join(this.root, 'sys/bus/pci/drivers', name);
    mkdirSync(dd, { recursive: true });
    for (const f of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) if (!existsSync(join(dd, f))) w(join(dd, f), '');
    mkdirSync(join(this.root, 'sys/module', module), { recursive: true });
    ln(join(this.root, 'sys/module', module), join(dd, 'module'));
    return dd;
  }

  /** A hardware IOMMU unit (sys/class/iommu/<unit> -> ../../devices/virtual/iommu/<unit>). */
  iommu(unit = 'dmar0'): void {
    mkdirSync(join(this.root, 'sys/devices/virtual/iommu', unit), { recursive: true });
    ln(join(this.root, 'sys/devices/virtual/iommu', unit), join(this.root, 'sys/class/iommu', unit));
  }

  /** vfio loaded with enable_unsafe_noiommu_mode (Y/N), as the kernel shows the parameter. */
  noiommu(enabled = true): void {
    w(join(this.root, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), enabled ? 'Y\n' : 'N\n');
  }

  /**
   * What vfio does when it takes a device without an IOMMU group in no-IOMMU mode: a new group
   * named "vfio-noiommu" holding the device, and /dev/vfio/noiommu-N. Returns N.
   */
  noiommuGroup(addr: string): number {
    const g = this.groups++;
    const gd = join(this.root, 'sys/kernel/iommu_groups', String(g));
    mkdirSync(join(gd, 'devices'), { recursive: true });
    w(join(gd, 'name'), 'vfio-noiommu\n');
    w(join(gd, 'type'), 'unknown\n');
    ln(gd, join(this.realDir(addr), 'iommu_group'));
    ln(this.realDir(addr), join(gd, 'devices', addr));
    return g;
  }

  /** The vfio character devices for a device's group: dev/vfio/vfio and dev/vfio/N (or noiommu-N). */
  vfioNodes(addr: string): string {
    const g = basename(readlinkSync(join(this.realDir(addr), 'iommu_group')));
    const noiommu = existsSync(join(this.root, 'sys/kernel/iommu_groups', g, 'name'));
    w(join(this.root, 'dev/vfio/vfio'), '');
    const node = join(this.root, 'dev/vfio', noiommu ? `noiommu-${g}` : g);
    w(node, '');
    return node;
  }

  /** Reserved hugepages of one size (kB): sys/kernel/mm/hugepages/hugepages-<kB>kB/. */
  hugepages(sizeKb: number, nr: number, free = nr): void {
    const hd = join(this.root, 'sys/kernel/mm/hugepages', `hugepages-${sizeKb}kB`);
    w(join(hd, 'nr_hugepages'), `${nr}\n`);
    w(join(hd, 'free_hugepages'), `${free}\n`);
    w(join(hd, 'resv_hugepages'), '0\n');
    w(join(hd, 'surplus_hugepages'), '0\n');
    w(join(hd, 'nr_overcommit_hugepages'), '0\n');
  }

  /** A line in proc/mounts, e.g. mount('hugetlbfs', '/dev/hugepages', 'hugetlbfs', 'rw,relatime,pagesize=2M'). */
  mount(source: string, target: string, fstype: string, options = 'rw,relatime'): void {
    const f = join(this.root, 'proc/mounts');
    const prev = existsSync(f) ? readFileSync(f, 'utf8') : '';
    w(f, `${prev}${source} ${target} ${fstype} ${options} 0 0\n`);
  }

  /** Unbind a function from its driver. */
  unbind(addr: string): void {
    rmSync(join(this.realDir(addr), 'driver'), { force: true });
  }

  /** A function's real directory under sys/devices. */
  realDir(addr: string): string {
    return realpathSync(join(this.root, 'sys/bus/pci/devices', addr));
  }

  /** A kernel netdev on a PCI function (name = a real host interface for netdev-mode tests). */
  netdev(addr: string, ifname: string, { mac = '02:00:00:00:00:01', mtu = 1500, virtio }: NetdevOpts = {}): string {
    const base = virtio !== undefined ? join(this.realDir(addr), `virtio${virtio}`) : this.realDir(addr);
    const nd = join(base, 'net', ifname);
    w(join(nd, 'address'), `${mac}\n`);
    w(join(nd, 'mtu'), `${mtu}\n`);
    ln(nd, join(this.root, 'sys/class/net', ifname));
    return nd;
  }

  /** A PF with numVfs VFs (each with its own driver / netdev as given by vfOpts(i)); returns the VF addresses. */
  sriovPf(pf: string, opts: SriovPfOpts = {}): string[] {
    const { netdev = 'ens1f0', numVfs = 4, driver = 'ice', mtu = 1500, offset = 16, stride = 1, vfDriver = 'vfio-pci', vfOpts = (): VfOpts => ({}) } = opts;
    this.pci(pf, { driver, device: '1592' });
    this.netdev(pf, netdev, { mac: '02:aa:00:00:00:00', mtu });
    const d = this.realDir(pf);
    w(join(d, 'sriov_totalvfs'), `${Math.max(numVfs, 64)}\n`);
    w(join(d, 'sriov_numvfs'), `${numVfs}\n`);
    w(join(d, 'sriov_offset'), `${offset}\n`);
    w(join(d, 'sriov_stride'), `${stride}\n`);
    const vfs: string[] = [];
    for (let i = 0; i < numVfs; i++) {
      const vf = vfAddress(pf, i, offset, stride);
      const o = vfOpts(i);
      this.pci(vf, { driver: o.driver ?? vfDriver, device: '1889', parent: pf });
      ln(this.devDir(pf), join(this.devDir(vf, pf), 'physfn'));
      ln(this.devDir(vf, pf), join(d, `virtfn${i}`));
      if (o.netdev) this.netdev(vf, o.netdev, o);
      vfs.push(vf);
    }
    return vfs;
  }

  /** A vDPA device on a PCI function, bound to a vDPA bus driver; returns its directory. */
  vdpa(addr: string, name: string, driver: VdpaDriver, { index = 0, netdev, mac }: VdpaOpts = {}): string {
    const vd = join(this.realDir(addr), name);
    mkdirSync(vd, { recursive: true });
    mkdirSync(join(this.root, 'sys/bus/vdpa/drivers', driver), { recursive: true });
    ln(join(this.root, 'sys/bus/vdpa/drivers', driver), join(vd, 'driver'));
    ln(vd, join(this.root, 'sys/bus/vdpa/devices', name));
    if (driver === 'vhost_vdpa') mkdirSync(join(vd, `vhost-vdpa-${index}`), { recursive: true });
    if (driver === 'virtio_vdpa' && netdev) this.netdev(addr, netdev, { virtio: index, mac });
    return vd;
  }
}
