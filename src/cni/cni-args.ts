import { CniError, Code } from './errors.js';
import { cut, quote } from './quote.js';

/** Parsed CNI_ARGS (K=V;K=V). Known keys are typed; everything else is kept in `other`. */
export interface CniArgs {
  ignoreUnknown: boolean;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  infraContainerId?: string;
  mac?: string;
  ip?: string;
  other: Record<string, string>;
  /** Lenient parsing (DEL, GC): what the strict parse would have refused, to be logged. */
  ignored?: string[];
}

const KNOWN: Record<string, keyof CniArgs> = {
  K8S_POD_NAMESPACE: 'podNamespace',
  K8S_POD_NAME: 'podName',
  K8S_POD_UID: 'podUid',
  K8S_POD_INFRA_CONTAINER_ID: 'infraContainerId',
  MAC: 'mac',
  IP: 'ip',
};

/**
 * Parse CNI_ARGS the way Multus and libcni send it: pairs separated by ';', repeated keys allowed
 * (the last one wins), `IgnoreUnknown` = 1|true (any case). A value may contain '=' (split at the
 * first one). Unknown keys are an error unless IgnoreUnknown is set, as in the reference skel.
 * `lenient` (DEL, GC: they must release whatever the arguments say): nothing is an error; what
 * the strict parse refuses is listed in `ignored` for the log.
 */
export function parseCniArgs(raw: string | undefined, lenient = false): CniArgs {
  const out: CniArgs = { ignoreUnknown: false, other: {} };
  if (!raw) return out;
  const ignored: string[] = [];
  const unknown: string[] = [];
  for (const part of raw.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      const msg = `CNI_ARGS: invalid pair ${quote(part)}: expected KEY=VALUE`;
      if (!lenient) throw new CniError(Code.InvalidEnv, msg);
      ignored.push(msg);
      continue;
    }
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 'IgnoreUnknown') {
      out.ignoreUnknown = /^(1|true)$/i.test(value);
      continue;
    }
    const field = KNOWN[key];
    if (field) {
      (out as unknown as Record<string, unknown>)[field] = value;
    } else {
      out.other[key] = value;
      if (!unknown.includes(key)) unknown.push(key);
    }
  }
  if (unknown.length > 0 && !out.ignoreUnknown) {
    const msg = `CNI_ARGS: unknown key(s) ${unknown.slice(0, 10).map((k) => cut(k)).join(', ')}${unknown.length > 10 ? ` and ${unknown.length - 10} more` : ''} (set IgnoreUnknown=1 to allow them)`;
    if (!lenient) throw new CniError(Code.InvalidEnv, msg);
    ignored.push(msg);
  }
  if (ignored.length > 0) out.ignored = ignored;
  return out;
}

/**
 * CNI_ARGS as DEL and GC pass them to the IPAM plugin after their own lenient reading ignored a
 * problem (an unknown key, a pair without "="): the well-formed pairs with `IgnoreUnknown=1`
 * first. host-local, static and whereabouts refuse unknown keys without it, and a DEL that fails
 * there fails for ever (the allocation of an ADD that was refused for its CNI_ARGS cannot exist,
 * but an allocation made with IgnoreUnknown=1 can, and its DEL must not depend on the flag).
 */
export function argsForIpam(raw: string | undefined): string {
  const pairs = (raw ?? '').split(';').filter((p) => p.indexOf('=') > 0 && !/^IgnoreUnknown=/i.test(p));
  return ['IgnoreUnknown=1', ...pairs].join(';');
}
