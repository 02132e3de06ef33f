import type { Argv } from 'yargs';
import { makeHost } from '../../sys/host.js';
import { checkAddress } from '../bind/bind.js';
import { exitCodeOf } from '../shared/errors.js';
import { inspect, type InspectReport } from './inspect.js';
import type { ToolContext } from '../cli/context.js';
import { err, out } from '../cli/out.js';

/** The human report: one row per fact, then what CNI ADD would do. */
function render(r: InspectReport): string {
  const l: string[] = [];
  const row = (k: string, v: string | number | undefined) => {
    if (v !== undefined && v !== '') l.push(`${`${k}:`.padEnd(18)}${v}`);
  };
  row('PCI address', r.pci);
  row('vendor:device', `${r.vendor ?? '?'}:${r.device ?? '?'}${r.pciClass ? ` (class ${r.pciClass})` : ''}`);
  row('driver', `${r.driver ?? '(none)'}${r.driverOverride ? ` (driver_override=${r.driverOverride})` : ''}`);
  row('NUMA node', r.numaNode);
  if (r.iommu) {
    const others = r.iommu.members.filter((m) => m !== r.pci);
    row('IOMMU group', `${r.iommu.group}${r.iommu.noiommu ? ' (vfio no-IOMMU)' : ''}${others.length > 0 ? `, shared with ${others.join(', ')}` : ''}`);
    if (r.iommu.vfioNode) row('vfio device', `${r.iommu.vfioNode}${r.iommu.vfioNodePresent ? '' : ' (MISSING)'}`);
  } else row('IOMMU group', '(none)');
  if (r.pf) row('PF', `${r.pf.pci}${r.pf.netdev ? ` (${r.pf.netdev}${r.pf.mtu !== undefined ? `, mtu ${r.pf.mtu}` : ''})` : ''}, VF index ${r.pf.vfIndex ?? '?'}`);
  if (r.sriov) {
    const used = r.sriov.vfsInUse;
    row('SR-IOV', `SR-IOV PF with ${r.sriov.numVfs} VF(s), ${used.length} in use${used.length > 0 ? ` (${used.map((v) => `VF ${v.index} ${v.pci} by container ${v.containerID}`).join(', ')})` : ''}`);
  } else if (r.numVfs !== undefined) row('SR-IOV', `PF with ${r.numVfs} VF(s)`);
  if (r.netdev) {
    const u = r.netdev.up === undefined ? '' : r.netdev.up ? ', up' : ', down';
    const a = r.netdev.addresses && r.netdev.addresses.length > 0 ? `, ${r.netdev.addresses.join(' ')}` : '';
    row('netdev', `${r.netdev.name} (${r.netdev.mac ?? '?'}, mtu ${r.netdev.mtu ?? '?'}${u}${a})`);
    if (r.netdev.usedFor) row('used by the host', r.netdev.usedFor.join('; '));
  }
  for (const v of r.vdpa) row('vDPA device', `${v.name} on ${v.driver ?? 'no driver'}${v.chardev ? `, ${v.chardev}` : ''}`);
  if (r.lastKnown) row('last known', `${r.lastKnown.netdev ?? '?'} ${r.lastKnown.mac ?? ''} mtu ${r.lastKnown.mtu ?? '?'} on ${r.lastKnown.driver ?? '?'} (recorded by dpdk-cni bind)`);
  if (r.attachment) {
    row('attached to', `container ${r.attachment.containerID} (${r.attachment.network}, ${r.attachment.ifname}), netns ${r.attachment.netns} ${r.attachment.netnsAlive ? 'alive' : 'GONE (stale: GC or the next ADD releases it)'}`);
  }
  l.push('');
  if (r.plugin.refusal) {
    l.push(`CNI ADD would fail: ${r.plugin.refusal}${r.plugin.refusalCode !== undefined ? ` (code ${r.plugin.refusalCode})` : ''}`);
  } else {
    l.push(`CNI ADD mode: ${r.plugin.mode}`);
    for (const a of r.plugin.actions) l.push(`  - ${a}`);
    if (r.plugin.reports) l.push(`  result mac: ${r.plugin.reports.mac ?? '(none)'}, mtu: ${r.plugin.reports.mtu ?? '(none)'}`);
    l.push(`  device-info: ${JSON.stringify(r.plugin.deviceInfo)}`);
  }
  l.push(`device plugin mounts: ${r.devicePluginMounts.length > 0 ? r.devicePluginMounts.join(', ') : '(none)'}`);
  return `${l.join('\n')}\n`;
}

/**
 * `dpdk-cni inspect <pci> [--json]`: what the plugin sees at that address and what ADD would do.
 * Changes nothing. Exit: 0 the plugin can attach it, 1 ADD would refuse it, 2 no such device.
 */
export function register(y: Argv, ctx: ToolContext): Argv {
  return y.command(
    'inspect <pci>',
    'show what dpdk-cni sees at a PCI address and what a CNI ADD would do with it (changes nothing)',
    (b) =>
      b
        .positional('pci', { type: 'string', demandOption: true, describe: 'PCI address, e.g. 0000:00:06.0' })
        .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
    (a) => {
      const host = makeHost(process.env);
      try {
        const r = inspect(host, checkAddress(String(a.pci)));
        out(a.json ? `${JSON.stringify(r, null, 2)}\n` : render(r));
        ctx.setExitCode(r.plugin.refusal ? 1 : 0);
      } catch (e) {
        err(`dpdk-cni: ${(e as Error).message}\n`);
        ctx.setExitCode(exitCodeOf(e) === 1 ? 1 : 2);
      }
    },
  );
}
