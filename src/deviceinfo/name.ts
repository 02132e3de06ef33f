import { cut, quote } from '../cni/quote.js';
import { DEVINFO_DIRS, syntaxProblem } from '../config/paths.js';

export const DEVINFO_FIELD = 'runtimeConfig.CNIDeviceInfoFile';

/**
 * The only device-info file an attachment may name: the one Multus generates for it
 * (network-attachment-definition-client GetCNIDeviceInfoPath, called from Multus'
 * delegateRuntimeConfig): `<devinfo>/cni/<nadNamespace>-<nadName>-<containerID>_<ifName>`, '/'
 * replaced by '-'. Directly in `cni/` (never `dp/`, where device plugins keep theirs, nor a
 * subdirectory), and ending in this attachment's `-<containerID>_<ifName>`, so a pod cannot name
 * another pod's file. Returns why `file` is not that name, or undefined. Pure: no file is touched.
 */
export function deviceInfoNameProblem(file: string, containerID: string, ifname: string): string | undefined {
  const syntax = syntaxProblem(file, DEVINFO_FIELD);
  if (syntax) return syntax;
  const suffix = `-${containerID}_${ifname}`;
  const want = `it must be a file under ${DEVINFO_DIRS.map((d) => `${d}/cni/`).join(' or ')} with the name Multus gives this attachment's file, <nadNamespace>-<nadName>${cut(suffix)}`;
  const dir = DEVINFO_DIRS.map((b) => `${b}/cni/`).find((d) => file.startsWith(d));
  const name = dir ? file.slice(dir.length) : '';
  if (!dir || name.includes('/') || name.length <= suffix.length || !name.endsWith(suffix)) {
    return `${DEVINFO_FIELD} ${quote(file)} is not allowed: ${want}`;
  }
  return undefined;
}
