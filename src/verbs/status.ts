import { CniError, Code } from '../cni/errors.js';
import type { Handler } from '../cni/skel.js';
import { execIpam } from '../ipam/ipam.js';
import { stateDirUsable, STATE_DIR } from '../state/store.js';

/** STATUS: ready when the state directory is usable and IPAM (if any) says it is ready. */
export const status: Handler = async (ctx) => {
  const { args, conf, host } = ctx;
  const bad = stateDirUsable(host);
  if (bad) throw new CniError(Code.StatusNotAvailable, `state directory ${host.p(STATE_DIR)} is not usable: ${bad}`);
  if (conf.ipam) {
    try {
      await execIpam(host, 'STATUS', conf.ipam.type, args, conf.raw);
    } catch (e) {
      throw new CniError(Code.StatusNotAvailable, (e as Error).message);
    }
  }
};
