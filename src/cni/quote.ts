/**
 * Quote a value for an error message or a log line: JSON, at most QUOTE_MAX characters (a longer
 * one is cut and says how long it was). Every value that comes from the netconf, CNI_ARGS or the
 * CNI_* environment is quoted through here: a 100 KB value must not be echoed whole into the error
 * JSON the runtime stores or into every log line.
 */
export const QUOTE_MAX = 80;

export function quote(v: unknown, max = QUOTE_MAX): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max - 3)}...(${s.length} characters)` : s;
}

/** The same cut without JSON quotes, for names shown bare (CNI_ARGS keys). */
export function cut(s: string, max = QUOTE_MAX): string {
  return s.length > max ? `${s.slice(0, max - 3)}...(${s.length} characters)` : s;
}
