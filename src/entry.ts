import { main } from './main.js';

// Node's own diagnostics must never reach stdout (the CNI result channel).
process.on('uncaughtException', (e) => {
  process.stderr.write(`dpdk-cni: fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.stdout.write(`${JSON.stringify({ cniVersion: '1.1.0', code: 110, msg: `internal error: ${e instanceof Error ? e.message : String(e)}`, details: '' })}\n`);
  process.exit(1);
});
void main();
