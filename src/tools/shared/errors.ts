/**
 * Node-tool failures. `refused` = a safety check said no and --force would override it (exit 1);
 * `error` = the request cannot be done as asked (exit 2). Messages say what to do.
 */
export class ToolError extends Error {
  constructor(
    readonly kind: 'refused' | 'error',
    message: string,
  ) {
    super(message);
  }
}

export const refused = (msg: string): ToolError => new ToolError('refused', msg);
export const failed = (msg: string): ToolError => new ToolError('error', msg);

export function exitCodeOf(e: unknown): number {
  return e instanceof ToolError && e.kind === 'refused' ? 1 : 2;
}
