import type { Argv } from 'yargs';
import { makeHost } from '../../sys/host.js';
import { CHECK_KINDS, renderReport, runDoctor } from './run.js';
import { DEFAULT_CONFIG } from '../dp-config/types.js';
import { selfFile } from '../install/install.js';
import type { ToolContext } from '../cli/context.js';
import { err, out } from '../cli/out.js';
import { quote } from '../../cni/quote.js';
import { seconds } from '../cli/args.js';
import { EXIT_CODE } from '../shared/verdict.js';

/** `dpdk-cni doctor [--json]`: is this node ready for DPDK pods? Exit 0 pass, 1 warn, 2 fail. */
export function register(y: Argv, ctx: ToolContext): Argv {
  return y.command(
    'doctor',
    'check that this node is ready for DPDK, SR-IOV and vDPA pods; one pass/warn/fail line per check, with the fix (exit 0/1/2)',
    (b) =>
      b
        .option('json', { type: 'boolean', default: false, describe: 'machine-readable report' })
        .option('skip', { type: 'string', array: true, describe: `check kinds to leave out: ${CHECK_KINDS.join(', ')}` })
        .option('cni-bin-dir', { type: 'string', default: '/opt/cni/bin', describe: 'where the runtime finds CNI plugins' })
        .option('dp-config', { type: 'string', default: DEFAULT_CONFIG, describe: 'the SR-IOV device plugin config to check, if present' })
        .option('plugin-timeout', { type: 'number', default: 60, describe: 'seconds the installed plugin may take to answer --version and CNI VERSION' })
        .check((a) => seconds('plugin-timeout', a['plugin-timeout'], ctx.argv))
        // node paths (under DPDK_CNI_ROOT on a simulated node): a relative one has no meaning there
        .check((a) => {
          const rel = (['cni-bin-dir', 'dp-config'] as const).filter((k) => typeof a[k] === 'string' && !(a[k] as string).startsWith('/'));
          return rel.length === 0 ? true : rel.map((k) => `--${k} must be an absolute path (a node path), got ${quote(a[k])}`).join('; ');
        }),
    (a) => {
      const host = makeHost(process.env);
      const skip = new Set((a.skip ?? []).flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter(Boolean));
      const unknown = [...skip].filter((s) => !CHECK_KINDS.includes(s));
      if (unknown.length > 0) {
        err(`dpdk-cni: --skip ${unknown.join(', ')}: unknown check (known: ${CHECK_KINDS.join(', ')})\n`);
        ctx.setExitCode(2);
        return;
      }
      let self: string;
      try {
        self = selfFile(host.fs);
      } catch {
        self = 'dpdk-cni';
      }
      const r = runDoctor(host, { version: ctx.version, cniBinDir: a['cni-bin-dir'], dpConfig: a['dp-config'], self, pluginTimeoutMs: Math.round(a['plugin-timeout'] * 1000) }, skip);
      if (a.json) {
        out(`${JSON.stringify({ version: ctx.version, root: host.root || '/', ...r }, null, 2)}\n`);
      } else {
        out(renderReport(r, `dpdk-cni ${ctx.version} doctor: node readiness${host.root ? ` (simulated node at ${host.root})` : ''}\n`));
      }
      ctx.setExitCode(EXIT_CODE[r.status]);
    },
  );
}
