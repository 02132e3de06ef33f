import type { Handlers } from '../cni/skel.js';

/** Each command's module is loaded only when that command runs. */
export const handlers: Handlers = {
  ADD: async () => (await import('./add.js')).add,
  DEL: async () => (await import('./del.js')).del,
  CHECK: async () => (await import('./check.js')).check,
  GC: async () => (await import('./gc.js')).gc,
  STATUS: async () => (await import('./status.js')).status,
  savedNetconf: async (host, key) => (await import('./del.js')).savedNetconf(host, key),
};
