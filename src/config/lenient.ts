import { CniError, Code } from '../cni/errors.js';
import { deeperThan, loadNetConf, MAX_DEPTH, type NetConf } from './netconf.js';

/**
 * DEL and GC must stay possible whatever the configuration says: a NetworkAttachmentDefinition
 * edited into an invalid form, or one whose ADD was refused (a field of the wrong type, an unknown
 * logLevel), must not make its pods undeletable. They read only what they need to find and release
 * an attachment — the name, the device, the IPAM plugin, where to log, GC's list of valid
 * attachments — each kept only when the strict rules (loadNetConf) accept it; the rest is reported
 * for the log. An invalid cniVersion stays an error (1): it is the protocol, not the configuration.
 */
export interface LenientConf {
  /** undefined when the network name itself is invalid: no attachment can exist under it */
  conf?: NetConf;
  /** the fields of NEEDED left out because they are invalid */
  ignored: string[];
}

/** The fields DEL and GC use, in the order they are tried (each alone with name and cniVersion). */
const NEEDED = ['type', 'runtimeConfig', 'deviceID', 'pciBusID', 'ipam', 'logLevel', 'logFile', 'cni.dev/valid-attachments', 'cni.dev/attachments'] as const;

export function loadLenientNetConf(raw: string, json: unknown, command: 'DEL' | 'GC', strictError: unknown): LenientConf {
  const ignored: string[] = [];
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw strictError;
  const obj = json as Record<string, unknown>;
  const base: Record<string, unknown> = { name: obj.name };
  if ('cniVersion' in obj) base.cniVersion = obj.cniVersion;
  try {
    loadNetConf(JSON.stringify(base), base);
  } catch (e) {
    if (e instanceof CniError && e.code === Code.IncompatibleVersion) throw e;
    return { ignored }; // the name: nothing was ever saved under it
  }
  const kept: Record<string, unknown> = { ...base };
  for (const k of NEEDED) {
    if (!(k in obj)) continue;
    // runtimeConfig: only its deviceID matters here (CNIDeviceInfoFile and mac are ADD's)
    const v = k === 'runtimeConfig' ? pick(obj[k], 'deviceID') : obj[k];
    if (v === undefined) continue;
    const trial = { ...kept, [k]: v };
    try {
      // checked before JSON.stringify, which overflows the stack on a value nested thousands deep
      if (deeperThan(v, MAX_DEPTH - 1)) throw new CniError(Code.InvalidConfig, `invalid network configuration: field "${k}" nests objects and arrays deeper than ${MAX_DEPTH} levels`);
      loadNetConf(JSON.stringify(trial), trial);
      kept[k] = v;
    } catch (e) {
      // GC's list is what tells it what to keep: guessing would release pods in use
      if (command === 'GC' && k.startsWith('cni.dev/')) throw e;
      ignored.push(k);
    }
  }
  // raw: IPAM gets the bytes as received
  return { conf: loadNetConf(raw, kept), ignored };
}

function pick(v: unknown, key: string): Record<string, unknown> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const x = (v as Record<string, unknown>)[key];
  return x === undefined ? undefined : { [key]: x };
}
