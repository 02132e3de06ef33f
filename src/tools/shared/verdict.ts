/**
 * The pass/warn/fail verdict doctor and dp-config --check print: one tag per line, the fix
 * indented under a warn or fail, the worst level as the exit code (0 pass, 1 warn, 2 fail).
 */
export type Level = 'pass' | 'warn' | 'fail';

/** The exit code of a report whose worst line has this level. */
export const EXIT_CODE: Record<Level, number> = { pass: 0, warn: 1, fail: 2 };

const TAG: Record<Level, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/** The worst of the levels: fail over warn over pass (pass when there are none). */
export function worst(levels: Iterable<Level>): Level {
  let w: Level = 'pass';
  for (const l of levels) if (EXIT_CODE[l] > EXIT_CODE[w]) w = l;
  return w;
}

/** One verdict line (`PASS  <label>  <message>`) and, for a warn or fail with a fix, the fix under it. */
export function verdictLines(level: Level, label: string, message: string, fix: string | undefined, indent: number): string[] {
  const lines = [`${TAG[level]}  ${label}${message}`];
  if (fix && level !== 'pass') lines.push(`${' '.repeat(indent)}fix: ${fix}`);
  return lines;
}
