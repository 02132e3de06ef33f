import * as path from 'node:path';
import type { Host } from '../../sys/host.js';
import { failed } from '../shared/errors.js';
import { existing, replaceAtomic } from '../../sys/replace-file.js';
import { checkConfig, parseConfig, type Finding } from './check.js';
import type { ResourceArg } from './selector.js';
import { fullName, type DpConfig, type DpResource, type DpSelector } from './types.js';

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

function renderConfig(c: DpConfig): string {
  return `${JSON.stringify(c, null, 2)}\n`;
}

/** Generate and check against the node: a config whose pools come out empty is refused. */
export function generate(host: Host, args: ResourceArg[], objectSyntax: boolean): { config: DpConfig; text: string; findings: Finding[] } {
  const config = buildConfig(args, objectSyntax);
  return { config, text: renderConfig(config), findings: checkConfig(host, config) };
}

/** `--write` takes an absolute path (checked before anything is generated). */
export function writePathProblem(file: string): string | undefined {
  return file.startsWith('/') ? undefined : `--write needs an absolute path, got ${JSON.stringify(file)}`;
}

/**
 * What is at the destination decides whether it may be replaced: nothing, an empty file, or a
 * device plugin config. Anything else (a symlink, /etc/passwd, a typo'd path to another file) is
 * refused, naming what is there. Returns what the write replaces, for the operator.
 */
function replaceable(p: string): { replaced: string; mode: number } {
  const e = existing(p);
  const mode = e.kind === 'file' ? e.mode & 0o777 : 0o644;
  return { replaced: replacedText(p, e), mode };
}

function replacedText(p: string, e: ReturnType<typeof existing>): string {
  const keep = 'not replacing it: pick another path, or remove it first if it really should go';
  switch (e.kind) {
    case 'missing':
      return 'a new file';
    case 'symlink':
      throw failed(`${p} is a symbolic link (to ${e.target}); dp-config does not write through links nor replace them with a file: write to the file itself (--write with its path) or remove the link`);
    case 'other':
      throw failed(`${p} is ${e.what}; ${keep}`);
    case 'file': {
      if (e.size === 0) return 'replaced an empty file';
      const c = parseConfig(e.text);
      // the reason, never the content (it may be any file)
      const why = e.size > 1 << 20 ? 'larger than 1 MiB' : c.error?.startsWith('not valid JSON') ? 'not JSON' : c.error;
      if (!c.config) throw failed(`${p} exists and is not a device plugin config (${why}); ${keep}`);
      const names = c.config.resourceList.map(fullName);
      return `replaced the device plugin config that was there (${names.length} resource(s)${names.length > 0 ? `: ${names.join(', ')}` : ''})`;
    }
  }
}

/**
 * Atomic write (unique temp file + rename in the same directory), under DPDK_CNI_ROOT, of a new
 * file (0644) or over a device plugin config only (its permission bits kept). Concurrent writers each succeed; the last one wins.
 */
export function writeConfig(host: Host, file: string, text: string): { path: string; replaced: string } {
  const bad = writePathProblem(file);
  if (bad) throw failed(bad);
  const p = host.p(path.posix.normalize(file));
  // a file that is there keeps its permission bits (an operator's 0640 stays 0640); a new one is 0644
  const { replaced, mode } = replaceable(p);
  try {
    host.fs.mkdirp(path.posix.dirname(p), 0o755);
    replaceAtomic(p, text, mode);
  } catch (e) {
    throw failed(`cannot write ${p}: ${(e as Error).message}`);
  }
  return { path: p, replaced };
}
