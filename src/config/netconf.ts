import * as z from 'zod/mini';
import { CniError, Code } from '../cni/errors.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from '../cni/version.js';
import { QUOTE_MAX, quote } from '../cni/quote.js';
import { parseDns, parseResult, type Dns } from '../cni/result.js';
import { parseBdf } from '../device/pci.js';
import { isIP } from '../cni/ip.js';
import { deviceInfoNameProblem } from '../deviceinfo/name.js';
import { MAC_RE, NAME_RE } from './names.js';

const PLUGIN_NAME_RE = NAME_RE;

const int = (min: number, max: number) => z.number().check(z.int(), z.gte(min), z.lte(max));
const onOff = z.enum(['on', 'off']);

const attachment = z.looseObject({ containerID: z.string(), ifname: z.string() });

/**
 * The network configuration on stdin, as the schema checks it. Field names follow sriov-cni so
 * users can switch by changing `type`. Unknown keys are tolerated (runtimes and Multus add their own).
 */
export const netConfSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  name: z.optional(z.string()), // checked (NAME_RE) before the schema
  type: z.optional(z.string()),
  deviceID: z.optional(z.string()),
  pciBusID: z.optional(z.string()),
  vdpaDevice: z.optional(z.string().check(z.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/))),
  allowInUse: z.optional(z.boolean()),
  vlan: z.optional(int(0, 4094)),
  vlanQoS: z.optional(int(0, 7)),
  vlanProto: z.optional(z.string()),
  mac: z.optional(z.string()),
  mtu: z.optional(int(68, 65535)),
  spoofchk: z.optional(onOff),
  trust: z.optional(onOff),
  link_state: z.optional(z.enum(['auto', 'enable', 'disable'])),
  min_tx_rate: z.optional(int(0, 1_000_000_000)),
  max_tx_rate: z.optional(int(0, 1_000_000_000)),
  ipam: z.optional(z.looseObject({ type: z.optional(z.string()) })),
  dns: z.optional(
    z.looseObject({
      nameservers: z.optional(z.array(z.string())),
      domain: z.optional(z.string()),
      search: z.optional(z.array(z.string())),
      options: z.optional(z.array(z.string())),
    }),
  ),
  logLevel: z.optional(z.enum(['panic', 'fatal', 'error', 'warning', 'warn', 'info', 'debug', 'trace'])),
  logFile: z.optional(z.string()),
  runtimeConfig: z.optional(
    z.looseObject({
      deviceID: z.optional(z.string()),
      mac: z.optional(z.string()),
      ips: z.optional(z.array(z.string())),
      CNIDeviceInfoFile: z.optional(z.string()),
    }),
  ),
  args: z.optional(z.looseObject({ cni: z.optional(z.looseObject({})) })),
  prevResult: z.optional(z.unknown()),
  'cni.dev/valid-attachments': z.optional(z.array(attachment)),
  'cni.dev/attachments': z.optional(z.array(attachment)),
});

/** The fields that passed the schema. */
type Checked = z.infer<typeof netConfSchema>;

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** The validated, normalised configuration the commands work with. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** PCI address from runtimeConfig.deviceID > deviceID > pciBusID (not yet validated as BDF). */
  deviceID?: string;
  /** The netconf field deviceID was taken from, for error messages. */
  deviceIDField?: 'runtimeConfig.deviceID' | 'deviceID' | 'pciBusID';
  vdpaDevice?: string;
  /** take a netdev the host uses (addresses, routes, master); DEL puts them back */
  allowInUse?: boolean;
  vlan?: number;
  vlanQoS?: number;
  vlanProto?: '802.1q' | '802.1ad';
  /** MAC from netconf `mac` only; runtimeConfig.mac and CNI_ARGS MAC are merged by the command. */
  mac?: string;
  runtimeMac?: string;
  mtu?: number;
  spoofchk?: 'on' | 'off';
  trust?: 'on' | 'off';
  linkState?: 'auto' | 'enable' | 'disable';
  minTxRate?: number;
  maxTxRate?: number;
  ipam?: Record<string, unknown> & { type: string };
  /** The netconf's `dns`, merged into the result with what IPAM returns. */
  dns?: Dns;
  logLevel: LogLevel;
  logFile?: string;
  deviceInfoFile?: string;
  prevResult?: unknown;
  validAttachments?: Array<{ containerID: string; ifname: string }>;
  /** The exact stdin bytes, forwarded to IPAM plugins. */
  raw: string;
}

function valueAt(obj: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function show(v: unknown): string {
  return quote(v, QUOTE_MAX);
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const field = issue.path.map(String).join('.') || '(root)';
  const got = show(valueAt(input, issue.path));
  switch (issue.code) {
    case 'invalid_type':
      return `field "${field}" must be ${issue.expected === 'int' ? 'an integer' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`}, got ${got}`;
    case 'too_small':
      return `field "${field}" must be >= ${String(issue.minimum)}, got ${got}`;
    case 'too_big':
      return `field "${field}" must be <= ${String(issue.maximum)}, got ${got}`;
    case 'invalid_value':
      return `field "${field}" must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got}`;
    case 'invalid_format':
      return `field "${field}" has an invalid format, got ${got}`;
    default:
      return `field "${field}" is invalid (${issue.message}), got ${got}`;
  }
}

/** Unicast, not all-zero: what a device can take as its address. */
export function checkUsableMac(mac: string, field: string): string {
  if (!MAC_RE.test(mac)) throw new CniError(Code.InvalidConfig, `${field} ${quote(mac)} is not a MAC address (expected xx:xx:xx:xx:xx:xx)`);
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if (first & 1) throw new CniError(Code.InvalidConfig, `${field} ${quote(mac)} is a multicast address; a device needs a unicast MAC`);
  if (/^(00:){5}00$/.test(mac)) throw new CniError(Code.InvalidConfig, `${field} ${quote(mac)} is the all-zero address`);
  return mac.toLowerCase();
}

const LEVELS: Record<string, LogLevel> = { panic: 'error', fatal: 'error', error: 'error', warning: 'warn', warn: 'warn', info: 'info', debug: 'debug', trace: 'debug' };

/** A logLevel read leniently (from a netconf that may have failed validation): unknown → info. */
export function logLevelOf(v: unknown): LogLevel {
  return (typeof v === 'string' && Object.hasOwn(LEVELS, v) ? LEVELS[v] : undefined) ?? 'info';
}

/**
 * JSON.parse takes any depth, but JSON.stringify (error messages, the netconf handed to IPAM
 * plugins) recurses and overflows the stack at a few thousand levels: a netconf nested that deep
 * was an internal error (110) with a stack trace. Real configurations nest a handful of levels.
 */
export const MAX_DEPTH = 64;
export function deeperThan(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (d > max) return true;
    if (v !== null && typeof v === 'object') for (const x of Object.values(v as object)) if (x !== null && typeof x === 'object') stack.push([x, d + 1]);
  }
  return false;
}

/** Decode stdin into JSON; code 6 if it is not JSON. */
export function decodeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw new CniError(Code.DecodeFailure, `the network configuration on stdin is not valid JSON: ${(e as Error).message}`);
  }
}

/** What only ADD checks, so that one ADD reports every violation in one message (code 7). */
export interface AddChecks {
  containerId: string;
  ifName: string;
  /** CNI_ARGS MAC= */
  argsMac?: string;
}

/** At most this many violations are listed in one message (a 100 000-element array stays short). */
const MAX_LISTED = 20;

function invalidConfig(errs: string[]): CniError {
  const listed = errs.slice(0, MAX_LISTED).join('; ');
  const more = errs.length > MAX_LISTED ? `; and ${errs.length - MAX_LISTED} more` : '';
  return new CniError(Code.InvalidConfig, `invalid network configuration: ${listed}${more}`);
}

/**
 * Validate the netconf. Errors: cniVersion (1); everything else (7) in one message listing every
 * violation: name, field types/ranges, cross-field rules, and for ADD (`add`) the device address,
 * the CNI_ARGS MAC, the prevResult and the device-info path's name.
 */
export function loadNetConf(raw: string, json: unknown = decodeJson(raw), add?: AddChecks): NetConf {
  const obj = plainObject(json);
  const version = supportedVersion(obj);
  const errs: string[] = [];
  const { c, invalid } = schemaChecked(obj, errs);
  const conf: NetConf = {
    cniVersion: version,
    name: c.name ?? '',
    type: c.type ?? '',
    logLevel: LEVELS[c.logLevel ?? 'info'] ?? 'info',
    raw,
  };
  takeDevice(c, conf);
  takeVfSettings(c, conf, invalid, errs);
  takeIpamAndDns(c, conf, errs);
  if (c.logFile) conf.logFile = c.logFile;
  if (c.runtimeConfig?.CNIDeviceInfoFile) conf.deviceInfoFile = c.runtimeConfig.CNIDeviceInfoFile;
  if (c.prevResult !== undefined) conf.prevResult = c.prevResult;
  const att = c['cni.dev/valid-attachments'] ?? c['cni.dev/attachments'];
  if (att) conf.validAttachments = att.map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
  if (add) errs.push(...addProblems(conf, add, invalid));
  if (errs.length > 0) throw invalidConfig(errs);
  return conf;
}

/** The netconf as a JSON object no deeper than MAX_DEPTH (code 7 otherwise). */
function plainObject(json: unknown): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CniError(Code.InvalidConfig, `the network configuration on stdin must be a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : `a ${typeof json}`}`);
  }
  if (deeperThan(json, MAX_DEPTH)) {
    throw new CniError(Code.InvalidConfig, `invalid network configuration: it nests objects and arrays deeper than ${MAX_DEPTH} levels`);
  }
  return json as Record<string, unknown>;
}

/** Its cniVersion (0.1.0 when absent), one this plugin supports (code 1 otherwise). */
function supportedVersion(obj: Record<string, unknown>): string {
  const version = obj.cniVersion === undefined ? '0.1.0' : obj.cniVersion;
  if (!isSupportedVersion(version)) {
    throw new CniError(
      Code.IncompatibleVersion,
      `incompatible CNI versions: config is ${show(version)}, plugin supports [${SUPPORTED_VERSIONS.join(', ')}]`,
    );
  }
  return version;
}

/**
 * The name rule and the schema. Fields that fail are reported in `errs` and left out (`invalid`),
 * so the rules after it still check the rest: one message lists every violation. Rules about an
 * invalid field are not applied.
 */
function schemaChecked(obj: Record<string, unknown>, errs: string[]): { c: Checked; invalid: Set<string> } {
  const invalid = new Set<string>();
  if (typeof obj.name !== 'string' || !NAME_RE.test(obj.name)) {
    errs.push(`field "name" must match ${NAME_RE.source}, got ${show(obj.name)}`);
    invalid.add('name');
  }
  const valid = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !invalid.has(k)));
  let parsed = netConfSchema.safeParse(valid(obj));
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      errs.push(describeIssue(i, obj));
      invalid.add(String(i.path[0]));
    }
    parsed = netConfSchema.safeParse(valid(obj));
    if (!parsed.success) throw invalidConfig(errs);
  }
  return { c: parsed.data, invalid };
}

/** The device: runtimeConfig.deviceID > deviceID > pciBusID (validated as a PCI address by ADD), and which vDPA device. */
function takeDevice(c: Checked, conf: NetConf): void {
  const devFrom = ([['runtimeConfig.deviceID', c.runtimeConfig?.deviceID], ['deviceID', c.deviceID], ['pciBusID', c.pciBusID]] as const).find(([, v]) => v);
  if (devFrom?.[1]) {
    conf.deviceID = devFrom[1];
    conf.deviceIDField = devFrom[0];
  }
  if (c.vdpaDevice) conf.vdpaDevice = c.vdpaDevice;
  if (c.allowInUse) conf.allowInUse = true;
}

/** VLAN (QoS and proto need a VLAN), MACs, MTU, spoofchk/trust/link_state and rates (min <= max). */
function takeVfSettings(c: Checked, conf: NetConf, invalid: Set<string>, errs: string[]): void {
  if (c.vlan !== undefined) conf.vlan = c.vlan;
  if (c.vlanQoS !== undefined) {
    if (invalid.has('vlan')) {
      // "vlan" itself is already reported
    } else if (c.vlan === undefined) errs.push(`field "vlanQoS" (${c.vlanQoS}) needs "vlan" to be set`);
    else if (c.vlanQoS !== 0 && c.vlan === 0) errs.push(`field "vlanQoS" ${c.vlanQoS} needs a non-zero "vlan"`);
    conf.vlanQoS = c.vlanQoS;
  }
  if (c.vlanProto !== undefined) {
    const p = c.vlanProto.toLowerCase();
    if (p !== '802.1q' && p !== '802.1ad') errs.push(`field "vlanProto" must be "802.1q" or "802.1ad", got ${show(c.vlanProto)}`);
    else {
      if (invalid.has('vlan')) {
        // "vlan" itself is already reported
      } else if (c.vlan === undefined) errs.push(`field "vlanProto" (${show(c.vlanProto)}) needs "vlan" to be set`);
      else if (p === '802.1ad' && c.vlan === 0) errs.push('field "vlanProto" "802.1ad" needs a non-zero "vlan"');
      conf.vlanProto = p;
    }
  }
  const macs: Array<[string | undefined, string, 'mac' | 'runtimeMac']> = [
    [c.mac, 'field "mac"', 'mac'],
    [c.runtimeConfig?.mac, 'field "runtimeConfig.mac"', 'runtimeMac'],
  ];
  for (const [m, label, key] of macs) {
    if (m === undefined || m === '') continue;
    const problem = messageOf(() => (conf[key] = checkUsableMac(m, label)));
    if (problem) errs.push(problem);
  }
  if (c.mtu !== undefined) conf.mtu = c.mtu;
  if (c.spoofchk) conf.spoofchk = c.spoofchk;
  if (c.trust) conf.trust = c.trust;
  if (c.link_state) conf.linkState = c.link_state;
  if (c.min_tx_rate !== undefined) conf.minTxRate = c.min_tx_rate;
  if (c.max_tx_rate !== undefined) conf.maxTxRate = c.max_tx_rate;
  if (conf.minTxRate && conf.maxTxRate && conf.minTxRate > conf.maxTxRate) {
    errs.push(`field "min_tx_rate" (${conf.minTxRate}) must not exceed "max_tx_rate" (${conf.maxTxRate})`);
  }
}

/** The delegated IPAM plugin (a plain file name) and the netconf's DNS (IP address nameservers). */
function takeIpamAndDns(c: Checked, conf: NetConf, errs: string[]): void {
  if (c.ipam && Object.keys(c.ipam).length > 0) {
    const t = c.ipam.type;
    if (typeof t !== 'string' || !PLUGIN_NAME_RE.test(t)) {
      errs.push(`field "ipam.type" must be a plugin file name matching ${PLUGIN_NAME_RE.source}, got ${show(t)}`);
    } else {
      conf.ipam = c.ipam as Record<string, unknown> & { type: string };
    }
  }
  if (c.dns) {
    // what the pod's resolv.conf gets: an IP address per nameserver, as from IPAM (code 106 there)
    (c.dns.nameservers ?? []).forEach((ns, i) => {
      if (!isIP(ns)) errs.push(`field "dns.nameservers.${i}" must be an IP address, got ${show(ns)}`);
    });
    const dns = parseDns(c.dns);
    if (Object.keys(dns).length > 0) conf.dns = dns;
  }
}

function messageOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** ADD's own checks, made before anything is locked or touched (see AddChecks). */
function addProblems(conf: NetConf, add: AddChecks, invalid: Set<string>): string[] {
  const out: Array<string | undefined> = [];
  if (!conf.deviceID && !invalid.has('deviceID') && !invalid.has('pciBusID') && !invalid.has('runtimeConfig')) {
    out.push('no device given: set "deviceID" (or "pciBusID") to a PCI address, or let Multus inject it — the NetworkAttachmentDefinition needs the k8s.v1.cni.cncf.io/resourceName annotation and "capabilities": {"deviceID": true}');
  }
  const id = conf.deviceID;
  if (id) out.push(messageOf(() => parseBdf(id, conf.deviceIDField ?? 'deviceID')));
  const mac = add.argsMac;
  if (mac) out.push(messageOf(() => checkUsableMac(mac, 'CNI_ARGS MAC')));
  if (conf.prevResult !== undefined) out.push(messageOf(() => parseResult(conf.prevResult, 'prevResult')));
  if (conf.deviceInfoFile) out.push(deviceInfoNameProblem(conf.deviceInfoFile, add.containerId, add.ifName));
  return out.filter((m): m is string => m !== undefined);
}
