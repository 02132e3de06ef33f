export declare function bdf(bus: number, dev: number, fn: number, domain?: number): string;
export declare function vfAddress(pf: string, index: number, offset?: number, stride?: number): string;
export interface NetdevOpts { mac?: string; mtu?: number; virtio?: number }
export interface VfOpts extends NetdevOpts { driver?: string; netdev?: string }
export declare class SimNode {
  constructor(root: string);
  readonly root: string;
  pci(addr: string, opts?: { vendor?: string; device?: string; numa?: number; driver?: string; parent?: string; iommuGroup?: number | false; pciClass?: string }): string;
  bind(addr: string, driver: string): string;
  unbind(addr: string): void;
  driver(name: string, module?: string): string;
  iommu(unit?: string): void;
  noiommu(enabled?: boolean): void;
  noiommuGroup(addr: string): number;
  vfioNodes(addr: string): string;
  hugepages(sizeKb: number, nr: number, free?: number): void;
  mount(source: string, target: string, fstype: string, options?: string): void;
  realDir(addr: string): string;
  netdev(addr: string, ifname: string, opts?: NetdevOpts): string;
  sriovPf(pf: string, opts?: { netdev?: string; numVfs?: number; driver?: string; mtu?: number; offset?: number; stride?: number; vfDriver?: string; vfOpts?: (i: number) => VfOpts }): string[];
  vdpa(addr: string, name: string, driver: 'vhost_vdpa' | 'virtio_vdpa', opts?: { index?: number; netdev?: string; mac?: string }): string;
}
