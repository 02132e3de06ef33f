/**
 * Argument rules shared by the node tools, checked by yargs before any command runs (a failed
 * check stops the command: see the .fail() in ../tool.ts).
 */

/**
 * Options given more than once that take one value: yargs would hand the command a list
 * (`--driver a --driver b` → ["a","b"]), which no single-value option can use. Returns the refusal.
 */
export function repeatedOptions(argv: Record<string, unknown>, opts: { key?: Record<string, unknown>; array?: string[] }): true | string {
  const lists = new Set(opts.array ?? []);
  const bad = Object.keys(opts.key ?? {}).filter((k) => k.length > 1 && !lists.has(k) && Array.isArray(argv[k]));
  if (bad.length === 0) return true;
  return `${bad.map((k) => `--${k}`).join(', ')} given more than once: give ${bad.length > 1 ? 'each of these options' : 'it'} once`;
}

/** A number of seconds >= 0 (`--timeout`): anything else is refused, never replaced by a default. */
export function seconds(name: string, v: unknown): true | string {
  if (v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0)) return true;
  return `--${name} must be a number of seconds >= 0 (e.g. 5 or 0.5)`;
}
