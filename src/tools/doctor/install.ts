import type { Host } from '../../sys/host.js';
import { netnsMayBeAlive } from '../../sys/netns.js';
import { attachmentFile, loadMarker, loadState, readMarker, scanStates, STATE_DIR } from '../../state/store.js';
import { readLastKnown } from '../../state/last-known.js';
import { checkConfig, parseConfig } from '../dp-config/check.js';
import { MAX_CONFIG_BYTES } from '../dp-config/types.js';
import { fail, pass, warn, type Check, type DoctorOptions } from './types.js';

/** The installed plugin, the device plugin config, and dpdk-cni's own state. */

/** A word for a printed shell command: as is when it needs no quoting, else single-quoted. */
function shq(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** execSync reports a program it had to kill after its timeout as code 127 with spawnSync's ETIMEDOUT. */
const timedOut = (r: { code: number; stderr: string }): boolean => r.code === 127 && /\bETIMEDOUT\b/.test(r.stderr);

/** Where CNI plugins live on common distributions: the IPAM plugin a stale attachment needs is in one of them. */
const CNI_DIRS = ['/opt/cni/bin', '/usr/lib/cni', '/usr/libexec/cni'];

/**
 * The installed binary is run twice, as the runtime and as an operator would: `--version` gives
 * its release (compared with this tool's), and CNI_COMMAND=VERSION proves the CNI entry point the
 * runtime calls works and lists the spec versions it speaks.
 */
export function binaryCheck(host: Host, o: DoctorOptions): Check[] {
  const logical = `${o.cniBinDir}/dpdk-cni`;
  const bin = host.p(logical);
  // the file this tool runs from, not whatever PATH has (empty when run as "node dist/dpdk-cni"),
  // into the bin directory as this tool sees it (under DPDK_CNI_ROOT on a simulated node)
  const install = `install the DaemonSet, or copy this executable: install -D -m 0755 ${shq(o.self)} ${shq(bin)}`;
  if (!host.fs.exists(bin)) return [fail('cni-binary', `${logical} is not installed: the runtime cannot run the plugin`, install)];
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  const v = host.exec(bin, ['--version'], { env, timeoutMs: o.pluginTimeoutMs });
  const version = v.stdout.trim().split('\n').pop() ?? '';
  if (timedOut(v)) return [fail('cni-binary', `${logical} does not run: "${logical} --version" did not answer within ${o.pluginTimeoutMs / 1000} s (it was killed)`, install)];
  if (v.code !== 0 || !/^\d+\.\d+\.\d+/.test(version)) {
    return [fail('cni-binary', `${logical} does not run: "${logical} --version" exited ${v.code}: ${(v.stderr || v.stdout).trim().split('\n')[0] ?? ''}`, install)];
  }
  const c = host.exec(bin, [], { env: { ...env, CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.1.0"}', timeoutMs: o.pluginTimeoutMs });
  if (timedOut(c)) return [fail('cni-binary', `${logical} ${version} does not answer CNI_COMMAND=VERSION within ${o.pluginTimeoutMs / 1000} s (it was killed)`, install)];
  let spec: string[] = [];
  try {
    spec = (JSON.parse(c.stdout) as { supportedVersions?: string[] }).supportedVersions ?? [];
  } catch {
    /* reported below */
  }
  if (c.code !== 0 || spec.length === 0) {
    return [fail('cni-binary', `${logical} ${version} fails CNI_COMMAND=VERSION (exit ${c.code}): ${(c.stdout || c.stderr).trim().slice(0, 200)}`, install)];
  }
  const what = `${logical} ${version}, CNI spec ${spec.join(', ')}`;
  if (version !== o.version) {
    return [warn('cni-binary', `${what}; this tool is ${o.version}`, `update the installed plugin (re-run the installer, or ${install.replace(/^install the DaemonSet, or /, '')})`)];
  }
  return [pass('cni-binary', what)];
}

export function dpConfigCheck(host: Host, o: DoctorOptions): Check[] {
  const read = host.fs.readRegular(host.p(o.dpConfig), MAX_CONFIG_BYTES);
  if (read === undefined) return [pass('dp-config', `no ${o.dpConfig} on the node (the device plugin may read its ConfigMap instead; check it with "dpdk-cni dp-config --check --config FILE")`)];
  if ('problem' in read) return [fail('dp-config', `${o.dpConfig} ${read.problem}`, 'put the device plugin config there as a regular file: dpdk-cni dp-config --resource <prefix>/<name>=<selector> --write')];
  const p = parseConfig(read.text);
  if (!p.config) return [fail('dp-config', `${o.dpConfig}: ${p.error}`, 'regenerate it: dpdk-cni dp-config --resource <prefix>/<name>=<selector> --write')];
  return checkConfig(host, p.config).map((f) => {
    const c: Check = { id: f.resource ? `dp-config:${f.resource}` : 'dp-config', status: f.level, message: `${o.dpConfig}: ${f.message}` };
    if (f.fix) c.fix = f.fix;
    return c;
  });
}

/**
 * The DEL a runtime would have sent. CNI_PATH lists the node's usual plugin directories that exist
 * (the IPAM plugin need not be next to dpdk-cni: Debian's are in /usr/lib/cni); the plugin itself
 * skips entries others than root can change. The installed plugin runs it, else this tool's file.
 */
function delCommand(host: Host, file: string, cid: string, ifname: string, o: DoctorOptions): string {
  const dirs = [...new Set([o.cniBinDir, ...CNI_DIRS])].filter((d) => host.fs.isDir(d));
  const installed = `${host.p(o.cniBinDir)}/dpdk-cni`;
  const bin = host.fs.exists(installed) ? installed : o.self;
  const env = [`CNI_COMMAND=DEL`, `CNI_CONTAINERID=${shq(cid)}`, `CNI_IFNAME=${shq(ifname)}`, `CNI_PATH=${shq(dirs.join(':') || o.cniBinDir)}`];
  if (host.root) env.push(`DPDK_CNI_ROOT=${shq(host.root)}`);
  return `jq -r .netconf ${shq(file)} | ${env.join(' ')} ${shq(bin)}`;
}

export function stateCheck(host: Host, o: DoctorOptions): Check[] {
  const out: Check[] = [];
  const scanned = scanStates(host);
  const states = scanned.flatMap((s) => (s.state ? [s.state] : []));
  let live = 0;
  // files the plugin refuses to use (corrupt, or written by a newer dpdk-cni): said, never skipped silently
  for (const s of scanned) {
    if (!s.error) continue;
    const who = `${s.key.net}/${s.key.containerID}/${s.key.ifname}`;
    out.push(
      s.error.kind === 'newer'
        ? warn(`state:${who}`, s.error.message, 'run the dpdk-cni release that wrote it (its DEL and GC can use it); if that release is gone, undo what the file records by hand and remove it')
        : warn(`state:${who}`, `attachment state ${s.file} cannot be used: ${s.error.problem}`, 'the runtime\'s DEL of that container moves it aside (to .corrupt) and releases what it can; check the device and the pod by hand (dpdk-cni inspect)'),
    );
  }
  for (const s of states) {
    const where = `${s.key.net}/${s.key.containerID}/${s.key.ifname} (${s.pci}, ${s.mode})`;
    const file = attachmentFile(host, s.key);
    if (!netnsMayBeAlive(s.netns)) {
      out.push(
        warn(
          `state:${s.pci}`,
          `attachment ${where}: its network namespace ${s.netns} is gone but DEL never came; ${s.pci} is still held`,
          `the runtime's next CNI GC or the next ADD of ${s.pci} releases it; to release it now: ${delCommand(host, file, s.key.containerID, s.key.ifname, o)}`,
        ),
      );
    } else if (s.phase === 'adding') {
      out.push(warn(`state:${s.pci}`, `attachment ${where} is half-done (phase "adding"): an ADD is running or crashed`, 'if no ADD is running, the runtime\'s DEL for that container (or deleting the pod) cleans it up'));
    } else {
      live++;
    }
  }
  // allocation markers whose attachment state is gone
  for (const f of host.fs.readdir(host.p(`${STATE_DIR}/devices`))) {
    const pci = f.replace(/\.json$/, '');
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const r = readMarker(host, pci);
    if (r && 'problem' in r) {
      out.push(warn(`state:${pci}`, `allocation marker ${r.file} cannot be used: ${r.problem}`, `the next ADD of ${pci} replaces it; or remove it`));
      continue;
    }
    const m = loadMarker(host, pci);
    if (m && !loadState(host, m.key) && !netnsMayBeAlive(m.netns)) {
      out.push(warn(`state:${pci}`, `${pci} has an allocation marker of container ${m.key.containerID} without an attachment, and its netns is gone`, `the next ADD of ${pci} clears it; or remove ${host.p(`${STATE_DIR}/devices/${f}`)}`));
    }
  }
  // what bind recorded (MAC/MTU of a device now on a userspace driver)
  for (const f of host.fs.readdir(host.p(`${STATE_DIR}/known`))) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const pci = f.slice(0, -'.json'.length);
    const r = readLastKnown(host, pci);
    if (r && 'problem' in r) out.push(warn(`state:${pci}`, `ADD ignores ${r.file}, what "dpdk-cni bind" recorded for ${pci}: ${r.problem}`, `"dpdk-cni unbind ${pci}" then "dpdk-cni bind ${pci} --driver <driver>" records it again; or remove it`));
  }
  if (out.length === 0) out.push(pass('state', states.length === 0 ? `no attachments in ${STATE_DIR}` : `${live} attachment(s), all with live network namespaces`));
  return out;
}
