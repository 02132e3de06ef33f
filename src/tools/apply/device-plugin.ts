import { isDeepStrictEqual } from 'node:util';
import type { Host } from '../../sys/host.js';
import { parseConfig } from '../dp-config/check.js';
import { writeConfig } from '../dp-config/generate.js';
import { DEFAULT_CONFIG, fullName, MAX_CONFIG_BYTES, type DpConfig, type DpResource } from '../dp-config/types.js';
import { failed } from '../shared/errors.js';
import type { NodeFile } from './schema.js';
import { unchanged, type Step } from './step.js';

/**
 * The node file's resources as the device plugin reads them: a resourceName written with its
 * prefix ("intel.com/intel_sriov_dpdk", as the seeds' configs and the NAD annotation spell it) is
 * split into resourcePrefix + resourceName (the device plugin accepts only [A-Za-z0-9_] names).
 */
export function normalise(r: { resourceName: string; resourcePrefix?: string | undefined }): DpResource {
  const { resourceName, resourcePrefix, ...rest } = r as DpResource;
  const slash = resourceName.lastIndexOf('/');
  if (slash < 0) return { ...(resourcePrefix !== undefined ? { resourcePrefix } : {}), resourceName, ...rest };
  return { resourcePrefix: resourceName.slice(0, slash), resourceName: resourceName.slice(slash + 1), ...rest };
}

/** The file with the node file's resources merged in, read now; `changed` empty: already so. */
interface Merge {
  text: string;
  changed: string[];
  kept: string[];
}

/**
 * Integer literals of a JSON text (outside strings) that a JavaScript number cannot hold exactly:
 * parsed and written back they would change (12345678901234567890 → 12345678901234567000).
 */
export function inexactIntegers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)) {
    const t = m[0];
    if (t.startsWith('"') || /[.eE]/.test(t)) continue;
    if (!Number.isSafeInteger(Number(t))) out.push(t);
  }
  return out;
}

/**
 * Merge into the device plugin's config.json: a resource of the node file replaces the one of the
 * same prefix/name in place, others are appended, every other resource and top-level field of the
 * file is kept. A file that is not a device plugin config is never replaced (dp-config's rule), nor
 * one whose numbers the rewrite would change.
 */
function merge(host: Host, file: string, wanted: DpResource[]): Merge {
  // what the write would refuse is found here, before any step runs: a symbolic link (a config
  // written through a link, or the link replaced by a file, is never what the operator meant)
  const link = host.fs.readlink(host.p(file));
  if (link !== undefined) throw failed(`devicePlugin: ${file} is a symbolic link (to ${link}); apply does not write through links nor replace them with a file: set devicePlugin.file to the file itself, or remove the link`);
  if (file.endsWith('/')) throw failed(`devicePlugin: ${file} names a directory: give the config file's path`);
  const read = host.fs.readRegular(host.p(file), MAX_CONFIG_BYTES);
  let base: DpConfig & Record<string, unknown> = { resourceList: [] };
  if (read && 'problem' in read) throw failed(`devicePlugin: ${file} ${read.problem}`);
  if (read && read.text.trim() !== '') {
    const p = parseConfig(read.text);
    if (!p.config) throw failed(`devicePlugin: ${file} exists and is not a device plugin config (${p.error}); apply never replaces another file: fix or remove it`);
    base = p.config as DpConfig & Record<string, unknown>;
    const inexact = inexactIntegers(read.text);
    if (inexact.length > 0) throw failed(`devicePlugin: ${file} holds the integer(s) ${inexact.slice(0, 3).join(', ')}, too large to be written back unchanged; apply never changes what it does not own: write them as strings, or leave devicePlugin out and use dp-config`);
  }
  const list = [...base.resourceList];
  const changed: string[] = [];
  for (const r of wanted) {
    const i = list.findIndex((x) => fullName(x) === fullName(r));
    if (i < 0) {
      list.push(r);
      changed.push(`add ${fullName(r)}`);
    } else if (!isDeepStrictEqual(list[i], r)) {
      list[i] = r;
      changed.push(`replace ${fullName(r)}`);
    }
  }
  const kept = base.resourceList.filter((x) => !wanted.some((r) => fullName(r) === fullName(x))).map(fullName);
  return { text: `${JSON.stringify({ ...base, resourceList: list }, null, 2)}\n`, changed, kept };
}

export function planDevicePlugin(host: Host, dp: NonNullable<NodeFile['devicePlugin']>): Step {
  const file = dp.file ?? DEFAULT_CONFIG;
  const id = 'device-plugin';
  const wanted = dp.resourceList.map(normalise);
  const what = `${file} has ${wanted.map(fullName).join(', ') || 'its resources'}`;
  const m = merge(host, file, wanted);
  if (m.changed.length === 0) return unchanged(id, what);
  return {
    id, what, unchanged: false, actions: [`${m.changed.join(', ')} in ${file}${m.kept.length > 0 ? ` (kept: ${m.kept.join(', ')})` : ''}`],
    notes: ['the device plugin reads its config only at start: restart its pods (or update its ConfigMap) to use it'],
    // merged again from the file as it is now: the earlier steps take seconds, and a resource
    // another writer (dp-config --write, an edit) added meanwhile must not be dropped
    run: async () => {
      const now = merge(host, file, wanted);
      if (now.changed.length === 0) return [`${file} already has ${wanted.map(fullName).join(', ')}`];
      const w = writeConfig(host, file, now.text);
      return [`wrote ${file} (${w.replaced}): ${now.changed.join(', ')}`];
    },
  };
}
