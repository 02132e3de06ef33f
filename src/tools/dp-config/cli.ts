import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { makeHost } from '../../sys/host.js';
import { checkConfig, parseConfig, type Finding } from './check.js';
import { generate, writeConfig, writePathProblem } from './generate.js';
import { parseResourceArg } from './selector.js';
import { DEFAULT_CONFIG, MAX_CONFIG_BYTES } from './types.js';
import { exitCodeOf } from '../shared/errors.js';
import type { ToolContext } from '../cli/context.js';
import { err, out } from '../cli/out.js';
import { EXIT_CODE, verdictLines, worst } from '../shared/verdict.js';

/** The findings, one verdict line each (a fix under it). */
function renderFindings(fs: Finding[]): string {
  return fs.map((f) => `${verdictLines(f.level, '', f.message, f.fix, 6).join('\n')}\n`).join('');
}

/**
 * `dpdk-cni dp-config --resource <prefix>/<name>=<selector> ... [--write [path]]` and
 * `dpdk-cni dp-config --check [--config path]`: the SR-IOV network device plugin's config, made
 * from and checked against this node's devices. Exit: 0 ok, 1 warnings, 2 failures/errors.
 */
export function register(y: Argv, ctx: ToolContext): Argv {
  return y.command(
    'dp-config',
    'generate or check the SR-IOV network device plugin config (/etc/pcidp/config.json) from this node\'s devices',
    (b) =>
      b
        .option('resource', {
          alias: 'r', type: 'string', array: true,
          describe: '<prefix>/<name>=<key>:<value>[,<value>][,<key>:<value>] with keys vendor, device, driver, pci, pf, root, link, vdpa, vhostnet, rdma; repeat a name for another selector object',
        })
        .option('write', { alias: 'w', type: 'string', describe: `write the config atomically to this file (default ${DEFAULT_CONFIG}) instead of printing it; an existing file is replaced only if it is empty or a device plugin config, never through a symlink` })
        .option('object-selectors', { type: 'boolean', default: false, describe: 'write "selectors" as one object (device plugin < v3.5) instead of a list' })
        .option('allow-empty', { type: 'boolean', default: false, describe: 'write even if a resource selects no device on this node' })
        .option('check', { type: 'boolean', default: false, describe: 'validate an existing config against this node instead' })
        .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG, describe: 'the config --check reads: an absolute path is on the node (under DPDK_CNI_ROOT), a relative one in the current directory' })
        .option('json', { type: 'boolean', default: false, describe: '--check: machine-readable findings' })
        .check((a) => (a.write ? (writePathProblem(a.write) ?? true) : true))
        .example('$0 dp-config -r aws.amazon.com/ena=vendor:1d0f,device:ec20,driver:vfio-pci --write', 'ENA NICs bound to vfio-pci')
        .example('$0 dp-config -r intel.com/dpdk_vf=pf:ens1f0#0-3,driver:vfio-pci -r intel.com/vdpa=vdpa:vhost', 'VFs 0-3 of ens1f0, and vhost-vdpa devices')
        .example('$0 dp-config --check', 'does /etc/pcidp/config.json select devices that exist?'),
    async (a) => {
      const host = makeHost(process.env);
      try {
        if (a.check) {
          if ((a.resource ?? []).length > 0 || a.write !== undefined) throw new Error('--check takes no --resource and no --write');
          // an absolute path is a node path (under DPDK_CNI_ROOT); a relative one is a file here
          // (e.g. a ConfigMap's config.json saved with kubectl), read as given
          const file = a.config.startsWith('/') ? host.p(a.config) : resolve(a.config);
          const read = host.fs.readRegular(file, MAX_CONFIG_BYTES);
          let fs: Finding[];
          if (read === undefined) fs = [{ level: 'fail', message: `${a.config} does not exist`, fix: 'generate it: dpdk-cni dp-config --resource <prefix>/<name>=<selector> --write' }];
          else if ('problem' in read) fs = [{ level: 'fail', message: `${a.config} ${read.problem}` }];
          else {
            const p = parseConfig(read.text);
            fs = p.config ? checkConfig(host, p.config) : [{ level: 'fail', message: `${a.config}: ${p.error}` }];
          }
          const w = worst(fs.map((f) => f.level));
          out(a.json ? `${JSON.stringify({ config: a.config, status: w, findings: fs }, null, 2)}\n` : `${a.config}\n${renderFindings(fs)}`);
          ctx.setExitCode(EXIT_CODE[w]);
          return;
        }
        const args = (a.resource ?? []).map((r) => parseResourceArg(String(r)));
        if (args.length === 0) throw new Error('name at least one --resource <prefix>/<name>=<selector> (or use --check)');
        const g = generate(host, args, a['object-selectors']);
        const w = worst(g.findings.map((f) => f.level));
        const summary = renderFindings(g.findings);
        if (w === 'fail' && !a['allow-empty']) {
          err(`${summary}dpdk-cni: not writing a config that would not work on this node (--allow-empty overrides)\n`);
          ctx.setExitCode(2);
          return;
        }
        if (a.write !== undefined) {
          const dest = a.write === '' ? DEFAULT_CONFIG : a.write;
          const w = writeConfig(host, dest, g.text);
          out(`${summary}wrote ${w.path}: ${w.replaced}\nthe device plugin reads its config only at start: put this file into its ConfigMap (config.json) and restart its pods\n`);
        } else {
          err(summary);
          out(g.text);
        }
        ctx.setExitCode(w === 'fail' ? 1 : EXIT_CODE[w]);
      } catch (e) {
        err(`dpdk-cni: ${(e as Error).message}\n`);
        ctx.setExitCode(exitCodeOf(e));
      }
    },
  );
}
