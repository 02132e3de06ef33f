/**
 * Summary tables: every figure is counted by the run that prints it. Each part prints its table
 * at the end (console output) and also writes it to dist/reliability/<part>.json so docs can be
 * refreshed from the last run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { REPO } from '../../helpers/cni.js';

export type Row = Record<string, string | number>;

export function table(title: string, rows: Row[]): string {
  if (rows.length === 0) return `${title}\n(no rows)\n`;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (r: Row, c: string) => (r[c] === undefined ? '' : String(r[c]));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(w[i] ?? 0)).join(' | ')} |`;
  return [
    title,
    line(cols),
    `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`,
    ...rows.map((r) => line(cols.map((c) => cell(r, c)))),
    '',
  ].join('\n');
}

export function report(part: string, title: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const load = loadavg().map((x) => x.toFixed(1)).join(' ');
  const text = `${table(title, rows)}(${cpus().length} CPUs, load average ${load})\n`;
  console.log(`\n${text}`);
  try {
    const dir = join(REPO, 'dist/reliability');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${part}.json`), `${JSON.stringify({ part, title, when: new Date().toISOString(), loadavg: load, rows, ...extra }, null, 2)}\n`);
  } catch {
    /* the table on the console is the report; the file is a convenience */
  }
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
}
