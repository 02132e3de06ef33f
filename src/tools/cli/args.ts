import { quote } from '../../cni/quote.js';

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

/** The longest wait a tool accepts (bind/unbind --timeout). */
const MAX_SECONDS = 3600;

/**
 * A number of seconds from 0 to MAX_SECONDS (`--timeout`): anything else is refused, never replaced by a default.
 * `raw` is what was typed: yargs turns an empty value into 0.
 */
export function seconds(name: string, v: unknown, raw: readonly string[] = []): true | string {
  const typed = typedValues(raw, name);
  // at most an hour: the device lock is held while waiting, and a typo like 1e300 would hold it for ever
  const ok = v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_SECONDS);
  if (ok && typed.every((t) => t.trim() !== '')) return true;
  return `--${name} must be a number of seconds from 0 to ${MAX_SECONDS} (e.g. 5 or 0.5)`;
}

/** The values typed for `--name` (`--name v` or `--name=v`) before any "--". */
function typedValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  const end = raw.indexOf('--');
  const args = end >= 0 ? raw.slice(0, end) : raw;
  args.forEach((a, i) => {
    if (a === `--${name}`) out.push(args[i + 1] ?? '');
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  });
  return out;
}

const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/**
 * Checks on the raw command line that yargs cannot make, before it parses anything:
 * - arguments after "--": yargs would drop them (`bind --driver vfio-pci -- 0000:00:06.0` binds
 *   nothing and says "name at least one PCI address"; `-- --force` was ignored silently); no tool
 *   takes any, so they are refused;
 * - a flag and its negation (`--dry-run --no-dry-run`, `--dry-run --dry-run=false`): yargs lets
 *   the last one win, so a dry run became a real one. Refused: the operator must say which.
 * Returns the refusal, or undefined.
 */
export function rawArgvProblem(raw: readonly string[]): string | undefined {
  const end = raw.indexOf('--');
  if (end >= 0 && end < raw.length - 1) {
    return `"--" ends the options, but no dpdk-cni tool takes arguments after it: got ${quote(raw.slice(end + 1).join(' '))}; put PCI addresses and options before "--" (or leave it out)`;
  }
  const senses = new Map<string, Set<boolean>>();
  for (const a of end >= 0 ? raw.slice(0, end) : raw) {
    const m = /^--(no-)?([A-Za-z][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(a);
    if (!m) continue;
    const [, neg, name, value] = m as unknown as [string, string | undefined, string, string | undefined];
    const sense = neg ? false : value === undefined ? true : !FALSE_WORDS.has(value.toLowerCase());
    const set = senses.get(name) ?? new Set<boolean>();
    set.add(sense);
    senses.set(name, set);
  }
  const both = [...senses].filter(([, s]) => s.size > 1).map(([n]) => n);
  if (both.length === 0) return undefined;
  return both.map((n) => `--${n} and --no-${n} (or --${n}=false) contradict each other`).join('; ') + ': give one of them';
}
