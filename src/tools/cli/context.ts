import type { Argv } from 'yargs';

/** What runTool gives every node tool when it registers its subcommand. */
export interface ToolContext {
  version: string;
  /** the command line as typed (for checks yargs cannot make on its parsed values) */
  argv: readonly string[];
  /** exit code of the process (0 ok, 1 warn, 2 fail — each tool documents its own) */
  setExitCode(code: number): void;
}

/** A node tool: adds its subcommand (options, checks, handler) to the yargs parser. */
export interface ToolCommand {
  register(y: Argv, ctx: ToolContext): Argv;
}
