import type { runTool as RunTool } from '../tools/cli/tool.js';
import { compileChunk, runChunk } from './chunk.js';

/**
 * Stands in for src/tools/cli/tool.ts inside the single executable (build/bundle.mjs, cliChunk): the
 * human CLI (yargs, pino, the node tools: ~230 KB of the ~300 KB bundle) is a separate SEA asset
 * compiled only when dpdk-cni runs without CNI_COMMAND, so no CNI call reads or parses it.
 */
const sea = process.getBuiltinModule('node:sea');
const exported = runChunk(compileChunk(sea.getAsset('dpdk-cni-cli.cjs', 'utf8'), 'dpdk-cni-cli.cjs'), require, process.execPath);
export const runTool = exported.runTool as typeof RunTool;
