import { fatal } from './fatal.js';
import { main } from './main.js';

// Node's own diagnostics must never reach stdout (the CNI result channel).
process.on('uncaughtException', fatal);
void main();
