import { CniError, Code } from '../cni/errors.js';
import type { Host } from '../sys/host.js';
import { linkBase, pciDir } from './sysfs.js';

export interface VdpaInfo {
  /** vDPA device name as in /sys/bus/vdpa/devices (e.g. vdpa0). */
  name: string;
  driver: 'vhost' | 'virtio';
  /** vhost: the character device, e.g. /dev/vhost-vdpa-0. */
  path?: string;
}

/**
 * vDPA devices parented by a PCI function, from sysfs only (as govdpa's sysfs lookup does):
 * `<pci>/vdpaN` directories; driver from `<pci>/vdpaN/driver`; vhost char device from the
 * `vhost-vdpa-M` child. Returns undefined when the function has no vDPA device.
 */
export function findVdpa(host: Host, pci: string, wanted?: string): VdpaInfo | undefined {
  const dir = pciDir(host, pci);
  const names = host.fs.readdir(dir).filter((e) => /^vdpa\d+$/.test(e) || (wanted !== undefined && e === wanted && host.fs.exists(`${dir}/${e}/driver`))).sort();
  if (names.length === 0) {
    if (wanted) throw new CniError(Code.DeviceNotFound, `vdpaDevice ${JSON.stringify(wanted)} is not on PCI device ${pci} (no vDPA devices there)`);
    return undefined;
  }
  let name: string;
  if (wanted) {
    if (!names.includes(wanted)) throw new CniError(Code.DeviceNotFound, `vdpaDevice ${JSON.stringify(wanted)} is not on PCI device ${pci}; it has ${names.join(', ')}`);
    name = wanted;
  } else if (names.length === 1) {
    name = names[0] as string;
  } else {
    throw new CniError(Code.InvalidConfig, `PCI device ${pci} has several vDPA devices (${names.join(', ')}): set "vdpaDevice" to choose one`);
  }
  const vdir = `${dir}/${name}`;
  const drv = linkBase(host, `${vdir}/driver`);
  if (drv === 'vhost_vdpa') {
    const chr = host.fs.readdir(vdir).find((e) => /^vhost-vdpa-\d+$/.test(e));
    if (!chr) throw new CniError(Code.DeviceNotFound, `vDPA device ${name} on ${pci} is bound to vhost_vdpa but has no vhost-vdpa-N child in sysfs`);
    return { name, driver: 'vhost', path: `/dev/${chr}` };
  }
  if (drv === 'virtio_vdpa') return { name, driver: 'virtio' };
  throw new CniError(
    Code.DeviceUnsupported,
    `vDPA device ${name} on ${pci} is ${drv ? `bound to ${drv}` : 'not bound to a driver'}: bind it to vhost_vdpa or virtio_vdpa`,
  );
}
