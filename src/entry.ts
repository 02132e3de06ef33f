import { main } from './main.js';
import { writeAll } from './sys/stdout.js';

// Node's own diagnostics must never reach stdout (the CNI result channel).
process.on('uncaughtException', (e) => {
  writeAll(2, `dpdk-cni: fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
  writeAll(1, `${JSON.stringify({ cniVersion: '1.1.0', code: 110, msg: `internal error: ${e instanceof Error ? e.message : String(e)}`, details: '' })}\n`);
  process.exit(1);
});
void main();
