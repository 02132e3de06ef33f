import * as bind from '../bind/cli.js';
import type { ToolCommand } from './context.js';
import * as doctor from '../doctor/cli.js';
import * as dpConfig from '../dp-config/cli.js';
import * as inspect from '../inspect/cli.js';
import { install } from '../install/cli.js';
import { reap } from '../reap/cli.js';
import { node } from '../apply/cli.js';

/** Registered node tools. Add a tool's cli module here to add a subcommand. */
export const commands: ToolCommand[] = [install, doctor, bind, dpConfig, inspect, reap, node];
