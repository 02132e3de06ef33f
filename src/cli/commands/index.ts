import type { Argv } from 'yargs';
import * as bind from './bind.js';
import * as doctor from './doctor.js';
import * as dpConfig from './dp-config.js';
import * as inspect from './inspect.js';
import { install } from './install.js';

export interface ToolContext {
  version: string;
  /** the command line as typed (for checks yargs cannot make on its parsed values) */
  argv: readonly string[];
  /** exit code of the process (0 ok, 1 warn, 2 fail — each tool documents its own) */
  setExitCode(code: number): void;
}
export interface ToolCommand {
  register(y: Argv, ctx: ToolContext): Argv;
}

/** Registered node tools. Add a module here to add a subcommand. */
export const commands: ToolCommand[] = [install, doctor, bind, dpConfig, inspect];
