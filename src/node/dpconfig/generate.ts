import * as path from 'node:path';
import type { Host } from '../../sys/host.js';
import { failed } from '../errors.js';
import { checkConfig, type Finding } from './check.js';
import type { ResourceArg } from './selector.js';
import type { DpConfig, DpResource, DpSelector } from './types.js';

/**
 * Build a device plugin config from `--resource` arguments. Selector lists are written in the
 * preferred list syntax; `objectSyntax` writes the single-object form older device plugins
 * (before v3.5) need, which allows one selector object per resource.
 */
export function buildConfig(args: ResourceArg[], objectSyntax: boolean): DpConfig {
  const byName = new Map<string, { prefix: string; name: string; selectors: DpSelector[] }>();
  for (const a of args) {
    const k = `${a.prefix}/${a.name}`;
    const e = byName.get(k) ?? { prefix: a.prefix, name: a.name, selectors: [] };
    e.selectors.push(a.selector);
    byName.set(k, e);
  }
  const resourceList: DpResource[] = [];
  for (const [k, e] of byName) {
    if (objectSyntax && e.selectors.length > 1) {
      throw failed(`${k} has ${e.selectors.length} selector objects, which the single-object syntax cannot express: drop --object-selectors (device plugin v3.5+ reads selector lists)`);
    }
    resourceList.push({
      resourceName: e.name,
      resourcePrefix: e.prefix,
      deviceType: 'netDevice',
      selectors: objectSyntax ? (e.selectors[0] as DpSelector) : e.selectors,
    });
  }
  return { resourceList };
}

export function renderConfig(c: DpConfig): string {
  return `${JSON.stringify(c, null, 2)}\n`;
}

/** Generate and check against the node: a config whose pools come out empty is refused. */
export function generate(host: Host, args: ResourceArg[], objectSyntax: boolean): { config: DpConfig; text: string; findings: Finding[] } {
  const config = buildConfig(args, objectSyntax);
  return { config, text: renderConfig(config), findings: checkConfig(host, config) };
}

/** Atomic write (temp file + rename in the same directory), under DPDK_CNI_ROOT. */
export function writeConfig(host: Host, file: string, text: string): string {
  if (!file.startsWith('/')) throw failed(`--write needs an absolute path, got ${JSON.stringify(file)}`);
  const p = host.p(path.posix.normalize(file));
  try {
    host.fs.mkdirp(path.posix.dirname(p), 0o755);
    host.fs.writeAtomic(p, text, 0o644);
  } catch (e) {
    throw failed(`cannot write ${p}: ${(e as Error).message}`);
  }
  return p;
}
