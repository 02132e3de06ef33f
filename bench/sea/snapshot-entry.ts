/**
 * Entry point of the startup-snapshot variant of the single executable (bench/sea/build.mjs --mode
 * snapshot). The snapshot is taken after this module has been evaluated, so everything evaluated
 * here is frozen at build time: only pure code (zod schemas, tables, function definitions) may run
 * at top level. main() reads process.env / argv when the executable starts. yargs, pino and child
 * processes are reached only lazily, never at build time (V8 cannot serialise their handles).
 *
 * The modules every CNI command needs (netconf schema, command handlers) are imported statically
 * here, so they are already evaluated inside the snapshot instead of at each start; in the plain
 * bundle (src/entry.ts) they stay lazy.
 *
 * The same file run by plain node (not building a snapshot) behaves like src/entry.ts.
 */
import * as v8 from 'node:v8';
import '../../src/config/netconf.js';
import '../../src/verbs/add.js';
import '../../src/verbs/del.js';
import '../../src/verbs/check.js';
import '../../src/verbs/gc.js';
import '../../src/verbs/status.js';
import { main } from '../../src/main.js';
import { installFatal } from '../../src/fatal.js';

function run(): void {
  installFatal();
  void main();
}

if (v8.startupSnapshot?.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(run);
else run();
