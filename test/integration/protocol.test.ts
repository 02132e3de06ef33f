/**
 * The CNI protocol against the built executable: env + stdin in, exactly one JSON document (or
 * nothing) on stdout and an exit code out. Devices are simulated (src/sim/simnode.ts) so these
 * tests exercise DPDK mode, which needs no netns changes; IPAM is Debian's real host-local/static.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cni, sh, tempDir, type CniCall, type RunResult } from '../helpers/cni.js';
import { SimNode } from '../../src/sim/simnode.js';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
const V0 = ['0.3.0', '0.3.1', '0.4.0'] as const;
const V1 = ['1.0.0', '1.1.0'] as const;
/** A network namespace that stays alive for the whole run: the test runner's own. */
const LIVE = `/proc/${process.pid}/ns/net`;
const PFLESS = '0000:00:06.0';
const PF = '0000:3b:00.0';
/** Stack frames, raw or JSON-escaped inside a log line. */
const STACK = /(\n|\\n)\s+at \S.*(\(|:\d+:\d+)/;

let dir: { path: string; cleanup: () => void };
let node: SimNode;
let vfs: string[];

beforeEach(() => {
  dir = tempDir('dpdk-cni-protocol-');
  node = new SimNode(join(dir.path, 'node'));
  node.pci(PFLESS, { driver: 'vfio-pci', vendor: '1d0f', device: 'ec20' });
  vfs = node.sriovPf(PF, { netdev: 'ens1f0', numVfs: 4, mtu: 9000 });
});
afterEach(() => dir.cleanup());

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'dpdk-net', type: 'dpdk-cni', ...extra });
const stateDir = (...p: string[]) => join(node.root, 'var/lib/cni/dpdk-cni', ...p);
const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);

/**
 * Run the plugin on the simulated node and check what holds for every call: stdout is empty or
 * exactly one JSON document on one line, and no stack trace reaches stdout or stderr.
 */
function run(c: CniCall): RunResult {
  const r = cni({ root: node.root, ...c });
  if (r.stdout !== '') {
    expect(r.stdout.endsWith('\n'), `stdout not newline-terminated: ${r.stdout}`).toBe(true);
    expect(r.stdout.slice(0, -1).includes('\n'), `stdout has more than one line: ${r.stdout}`).toBe(false);
    expect(() => JSON.parse(r.stdout), `stdout is not JSON: ${r.stdout}`).not.toThrow();
  }
  expect(r.stdout).not.toMatch(STACK);
  expect(r.stderr).not.toMatch(STACK);
  return r;
}
const add = (c: Omit<CniCall, 'command'>) => run({ command: 'ADD', netns: LIVE, ...c });

/** A CNI error: exit 1, {cniVersion, code, msg, details} and nothing else, msg containing `parts`. */
function expectError(r: RunResult, code: number, ...parts: string[]): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(Object.keys(r.json ?? {})).toEqual(['cniVersion', 'code', 'msg', 'details']);
  expect(r.json.code, r.json.msg).toBe(code);
  expect(typeof r.json.msg).toBe('string');
  expect(typeof r.json.details).toBe('string');
  for (const p of parts) expect(r.json.msg).toContain(p);
}
/** Success without output (DEL, CHECK, GC, STATUS). */
function expectQuiet(r: RunResult): void {
  expect([r.code, r.stdout], r.stderr).toEqual([0, '']);
}
function logLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('VERSION', () => {
  it.each(VERSIONS)('echoes the input cniVersion %s and lists exactly the five supported versions', (v) => {
    const r = run({ command: 'VERSION', stdin: JSON.stringify({ cniVersion: v }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`{"cniVersion":"${v}","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n`);
  });

  it("works with podman's dummy values (CNI_NETNS/CNI_PATH/CNI_IFNAME=dummy, empty CNI_CONTAINERID)", () => {
    const r = run({
      command: 'VERSION', stdin: '{"cniVersion":"0.4.0"}', containerId: '', netns: 'dummy', ifname: 'dummy', path: 'dummy', args: 'junk',
    });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: '0.4.0', supportedVersions: [...VERSIONS] });
    expect(r.stderr).toBe('');
  });

  it('works with empty stdin, answering the current version 1.1.0', () => {
    const r = run({ command: 'VERSION', stdin: '' });
    expect([r.code, r.json]).toEqual([0, { cniVersion: '1.1.0', supportedVersions: [...VERSIONS] }]);
  });

  it.each(['{"cniVersion":"0.2.0"}', '{"cniVersion":"0.1.0"}', '{"cniVersion":"2.0.0"}', '{"cniVersion":1}', '{}', 'not json', '[1]'])(
    'an unsupported or unreadable input (%s) is not an error: it answers with the current version 1.1.0',
    (stdin) => {
      const r = run({ command: 'VERSION', stdin });
      expect([r.code, r.json]).toEqual([0, { cniVersion: '1.1.0', supportedVersions: [...VERSIONS] }]);
    },
  );
});

describe('environment (as the reference skel validates it)', () => {
  const ok = conf({ deviceID: PFLESS });

  it('ADD with no CNI_* but the command → 4 naming all four missing variables', () => {
    const r = run({ command: 'ADD', conf: ok, env: { CNI_CONTAINERID: undefined, CNI_IFNAME: undefined, CNI_PATH: undefined } });
    expectError(r, 4);
    expect(r.json.msg).toBe('required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing');
    expect(r.json.cniVersion).toBe('1.1.0');
  });

  it.each(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'])('ADD without %s → 4 naming exactly it', (k) => {
    const r = add({ conf: ok, env: { [k]: undefined } });
    expectError(r, 4);
    expect(r.json.msg).toBe(`required env variables [${k}] missing`);
  });

  it('CHECK needs CNI_NETNS too', () => {
    const r = run({ command: 'CHECK', conf: ok });
    expectError(r, 4);
    expect(r.json.msg).toBe('required env variables [CNI_NETNS] missing');
  });

  it('DEL does not need CNI_NETNS: with nothing to undo it succeeds quietly', () => {
    expectQuiet(run({ command: 'DEL', conf: ok }));
  });

  it('DEL without CNI_CONTAINERID, CNI_IFNAME, CNI_PATH → 4 naming exactly those', () => {
    const r = run({ command: 'DEL', conf: ok, env: { CNI_CONTAINERID: undefined, CNI_IFNAME: undefined, CNI_PATH: undefined } });
    expectError(r, 4);
    expect(r.json.msg).toBe('required env variables [CNI_CONTAINERID,CNI_IFNAME,CNI_PATH] missing');
  });

  it.each(['STATUS', 'GC'])('%s needs only CNI_PATH', (command) => {
    expectQuiet(run({ command, conf: conf() }));
    const r = run({ command, conf: conf(), env: { CNI_PATH: undefined } });
    expectError(r, 4);
    expect(r.json.msg).toBe('required env variables [CNI_PATH] missing');
  });

  it('a missing variable is reported before undecodable stdin (code 4, not 6), as the reference skel does', () => {
    const r = run({ command: 'ADD', stdin: '{not json', netns: LIVE, env: { CNI_PATH: undefined } });
    expectError(r, 4);
    expect(r.json.msg).toBe('required env variables [CNI_PATH] missing');
  });

  it.each(['a/b', '-abc', 'has space', 'semi;colon', '../x'])('container ID %j → 4 naming CNI_CONTAINERID and the value', (id) => {
    const r = add({ conf: ok, containerId: id });
    expectError(r, 4, 'CNI_CONTAINERID', JSON.stringify(id), 'is invalid');
  });

  it.each([
    ['abcdefghijklmnop', 'is longer than 15 bytes'],
    ['ääääääää', 'is longer than 15 bytes'],
    ['.', 'must not be "."'],
    ['..', 'must not be ".."'],
    ['a/b', 'must not contain "/", ":" or whitespace'],
    ['a:b', 'must not contain "/", ":" or whitespace'],
    ['a b', 'must not contain "/", ":" or whitespace'],
    ['a\tb', 'must not contain "/", ":" or whitespace'],
  ])('CNI_IFNAME %j → 4: %s', (ifname, why) => {
    for (const command of ['ADD', 'DEL', 'CHECK']) {
      const r = run({ command, conf: ok, ifname, netns: LIVE });
      expectError(r, 4);
      expect(r.json.msg).toBe(`CNI_IFNAME ${JSON.stringify(ifname)} ${why}`);
    }
  });

  it('a 15-byte interface name is fine', () => {
    const r = add({ conf: ok, ifname: 'abcdefghijklmno' });
    expect(r.code).toBe(0);
    expect(r.json.interfaces[0].name).toBe('abcdefghijklmno');
  });

  it('a relative CNI_NETNS → 4', () => {
    expectError(add({ conf: ok, netns: 'run/netns/x' }), 4, 'CNI_NETNS "run/netns/x" must be an absolute path');
  });

  it.each(['FOO', 'add', 'version'])('unknown CNI_COMMAND %j → 4 naming it', (command) => {
    const r = run({ command, conf: ok });
    expectError(r, 4, `unknown CNI_COMMAND ${JSON.stringify(command)}`, 'ADD, DEL, CHECK, STATUS, GC, VERSION');
  });

  it.each([undefined, ''])('no CNI_COMMAND (%j) and no arguments → code 4 error JSON, and a hint on stderr', (c) => {
    const r = run({ command: 'ADD', conf: ok, env: { CNI_COMMAND: c } });
    expectError(r, 4);
    expect(r.json.msg).toBe('required env variables [CNI_COMMAND] missing');
    expect(r.stderr).toContain('CNI_COMMAND is not set; this is a CNI plugin. Run "dpdk-cni --help" for the node tools.');
  });

  it("Multus' duplicated CNI_PATH is fine (IPAM is found)", () => {
    const ipam = { type: 'host-local', subnet: '10.20.0.0/24', dataDir: join(dir.path, 'ipam') };
    const r = add({ conf: conf({ deviceID: PFLESS, ipam }), path: '/usr/lib/cni:/usr/lib/cni' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ips).toEqual([{ interface: 0, address: '10.20.0.2/24', gateway: '10.20.0.1' }]);
  });
});

describe('CNI_ARGS', () => {
  const ok = conf({ deviceID: PFLESS });

  it('K8S_POD_NAMESPACE and K8S_POD_NAME appear in every log line (with cmd, containerID, ifname)', () => {
    const r = add({ conf: ok, args: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web-0', containerId: 'ctr1' });
    expect(r.code).toBe(0);
    const lines = logLines(r.stderr);
    expect(lines.map((l) => l.msg)).toContain('attached');
    for (const l of lines) expect(l).toMatchObject({ cmd: 'ADD', containerID: 'ctr1', ifname: 'net1', podNamespace: 'team-a', podName: 'web-0' });
  });

  it("Multus' repeated keys: the last one wins, IgnoreUnknown=true and =1 both count", () => {
    const args = 'IgnoreUnknown=true;K8S_POD_NAMESPACE=first;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=4f1e;IgnoreUnknown=1;K8S_POD_NAMESPACE=last;SOMETHING=else';
    const r = add({ conf: ok, args });
    expect(r.code, r.stdout).toBe(0);
    for (const l of logLines(r.stderr)) expect(l).toMatchObject({ podNamespace: 'last', podName: 'web-0' });
  });

  it.each(['IgnoreUnknown=1', 'IgnoreUnknown=true'])('%s lets an unknown key through', (ig) => {
    expect(add({ conf: ok, args: `${ig};FOO=bar` }).code).toBe(0);
  });

  it('an unknown key without IgnoreUnknown → 4 naming the key', () => {
    expectError(add({ conf: ok, args: 'K8S_POD_NAME=x;FOO=bar' }), 4, 'CNI_ARGS: unknown key(s) FOO', 'IgnoreUnknown=1');
  });

  it('a pair without "=" → 4 quoting it', () => {
    expectError(add({ conf: ok, args: 'K8S_POD_NAME=x;junk' }), 4, 'CNI_ARGS: invalid pair "junk"');
  });

  it('CHECK validates CNI_ARGS too', () => {
    expectError(run({ command: 'CHECK', conf: ok, netns: LIVE, args: 'FOO=bar' }), 4, 'FOO');
  });

  it('DEL does not refuse CNI_ARGS an ADD would refuse: it logs them and releases (nothing here)', () => {
    const r = run({ command: 'DEL', conf: ok, netns: LIVE, args: 'FOO=bar;junk' });
    expectQuiet(r);
    expect(r.stderr).toMatch(/"reason":"CNI_ARGS: invalid pair \\"junk\\".*unknown key\(s\) FOO.*"msg":"CNI_ARGS is invalid; DEL goes on without it"/);
  });
});

describe('MAC priority: runtimeConfig.mac > CNI_ARGS MAC > netconf mac (seen through the PF-less refusal)', () => {
  // A PF-less device can only "take" the MAC it already has; any other is refused with 103 naming it.
  const refusedMac = (r: RunResult) => {
    expectError(r, 103, `PCI device ${PFLESS} has no PF`);
    return /mac \(([0-9a-f:]+)\)/.exec(r.json.msg)?.[1];
  };

  it('runtimeConfig.mac wins', () => {
    const r = add({ conf: conf({ deviceID: PFLESS, mac: '02:00:00:00:00:03', runtimeConfig: { mac: '02:00:00:00:00:01' } }), args: 'MAC=02:00:00:00:00:02' });
    expect(refusedMac(r)).toBe('02:00:00:00:00:01');
  });
  it('CNI_ARGS MAC beats the netconf mac', () => {
    const r = add({ conf: conf({ deviceID: PFLESS, mac: '02:00:00:00:00:03' }), args: 'MAC=02:00:00:00:00:02' });
    expect(refusedMac(r)).toBe('02:00:00:00:00:02');
  });
  it('the netconf mac is used last', () => {
    expect(refusedMac(add({ conf: conf({ deviceID: PFLESS, mac: '02:00:00:00:00:03' }) }))).toBe('02:00:00:00:00:03');
  });
  it('a CNI_ARGS MAC equal to the MAC the device last had is accepted and reported (with its MTU)', () => {
    mkdirSync(stateDir('known'), { recursive: true });
    writeFileSync(stateDir('known', `${PFLESS}.json`), JSON.stringify({ pci: PFLESS, mac: '02:00:00:00:00:02', mtu: 9001 }));
    const r = add({ conf: conf({ deviceID: PFLESS, mac: '02:00:00:00:00:03' }), args: 'MAC=02:00:00:00:00:02' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces).toEqual([{ name: 'net1', mac: '02:00:00:00:00:02', mtu: 9001, sandbox: LIVE, pciID: PFLESS }]);
  });
  it('an unusable CNI_ARGS MAC → 7 naming CNI_ARGS MAC and the value', () => {
    expectError(add({ conf: conf({ deviceID: PFLESS }), args: 'MAC=01:00:5e:00:00:01' }), 7, 'CNI_ARGS MAC "01:00:5e:00:00:01" is a multicast address');
  });
});

describe('stdin', () => {
  it.each(['', '{', '{"cniVersion":"1.0.0",', 'cniVersion=1.0.0'])('undecodable %j → 6', (stdin) => {
    expectError(add({ stdin }), 6, 'the network configuration on stdin is not valid JSON');
  });

  it.each(['[]', '[{"cniVersion":"1.0.0","name":"n"}]', '42', '"x"', 'null'])('a JSON %s that is not an object → 7 (valid JSON, invalid configuration)', (stdin) => {
    expectError(add({ stdin }), 7, 'the network configuration on stdin must be a JSON object');
  });

  it.each([[undefined, 'nothing'], ['', '""'], ['dpdk/net', '"dpdk/net"'], ['_x', '"_x"'], [7, '7']])('name %j → 7 naming the field and the value', (name, shown) => {
    const r = add({ conf: conf({ name, deviceID: PFLESS }) });
    expectError(r, 7);
    expect(r.json.msg).toBe(`invalid network configuration: field "name" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got ${shown}`);
  });

  it('a missing cniVersion is 0.1.0 (as libcni decodes it) → 1', () => {
    const r = add({ stdin: JSON.stringify({ name: 'dpdk-net', deviceID: PFLESS }) });
    expectError(r, 1, 'incompatible CNI versions: config is "0.1.0", plugin supports [0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0]');
    expect(r.json.cniVersion).toBe('1.1.0');
  });

  it.each(['0.1.0', '0.2.0', '1.2.0', '1.0'])('unsupported cniVersion %s → 1 quoting it', (v) => {
    expectError(add({ conf: conf({ cniVersion: v, deviceID: PFLESS }) }), 1, `config is "${v}"`);
  });

  it('unknown keys, capabilities, args.cni and runtimeConfig extras are tolerated', () => {
    const r = add({
      conf: conf({
        deviceID: PFLESS,
        someVendorKey: { a: [1] },
        capabilities: { deviceID: true, mac: true, ips: true, CNIDeviceInfoFile: true },
        args: { cni: { labels: [{ key: 'k', value: 'v' }] } },
        runtimeConfig: { portMappings: [], bandwidth: {} },
      }),
    });
    expect(r.code, r.stdout).toBe(0);
  });

  it('deviceID precedence: runtimeConfig.deviceID > deviceID > pciBusID, upper case normalised', () => {
    const r = add({ conf: conf({ pciBusID: vfs[0], deviceID: vfs[1], runtimeConfig: { deviceID: vfs[2]!.toUpperCase() } }), containerId: 'a' });
    expect(r.json.interfaces[0].pciID).toBe(vfs[2]);
    expect(add({ conf: conf({ pciBusID: vfs[0], deviceID: vfs[1] }), containerId: 'b' }).json.interfaces[0].pciID).toBe(vfs[1]);
    expect(add({ conf: conf({ pciBusID: vfs[0] }), containerId: 'c' }).json.interfaces[0].pciID).toBe(vfs[0]);
    expect(ls(stateDir('devices'))).toEqual([`${vfs[0]}.json`, `${vfs[1]}.json`, `${vfs[2]}.json`]);
  });

  it('runtimeConfig.ips reaches the IPAM plugin (static reads it)', () => {
    const r = add({ conf: conf({ deviceID: PFLESS, capabilities: { ips: true }, ipam: { type: 'static' }, runtimeConfig: { ips: ['10.2.0.5/24'] } }) });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ips).toEqual([{ interface: 0, address: '10.2.0.5/24' }]);
  });

  it('runtimeConfig.CNIDeviceInfoFile is written (byte-exact), and removed by DEL', () => {
    const file = '/var/run/k8s.cni.cncf.io/devinfo/cni/default-dpdk-net-c0ffee_net1';
    const c = conf({ deviceID: vfs[1], runtimeConfig: { CNIDeviceInfoFile: file } });
    expect(add({ conf: c }).code).toBe(0);
    expect(readFileSync(join(node.root, file), 'utf8')).toBe(`{"type":"pci","version":"1.1.0","pci":{"pci-address":"${vfs[1]}","pf-pci-address":"${PF}"}}`);
    expectQuiet(run({ command: 'DEL', conf: c }));
    expect(existsSync(join(node.root, file))).toBe(false);
  });

  it('a CNIDeviceInfoFile outside the devinfo directories → 7, nothing written or kept', () => {
    const r = add({ conf: conf({ deviceID: PFLESS, runtimeConfig: { CNIDeviceInfoFile: '/etc/cron.d/x' } }) });
    expectError(r, 7, 'runtimeConfig.CNIDeviceInfoFile "/etc/cron.d/x" is not allowed');
    expect(existsSync(join(node.root, 'etc'))).toBe(false);
    expect(ls(stateDir('attachments'))).toEqual([]);
  });

  it.each([
    ['0.3.0', { cniVersion: '0.3.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:80:00:05', sandbox: LIVE }], ips: [{ version: '4', address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }], dns: {} }],
    ['0.3.1', { cniVersion: '0.3.1', interfaces: [{ name: 'eth0', mac: '0a:58:0a:80:00:05', sandbox: LIVE }], ips: [{ version: '4', address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }], dns: {} }],
    ['0.4.0', { interfaces: [{ name: 'eth0', mac: '0a:58:0a:80:00:05', sandbox: LIVE }], ips: [{ version: '4', address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }] }],
    ['1.0.0', { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:80:00:05', mtu: 1450, sandbox: LIVE }], ips: [{ address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0', mtu: 1450 }] }],
    ['1.1.0', { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:80:00:05', mtu: 1450, sandbox: LIVE, pciID: '0000:00:03.0' }], ips: [{ address: '10.128.0.5/23', gateway: '10.128.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0', mtu: 1450 }], dns: { nameservers: ['10.96.0.10'] } }],
  ])('a %s prevResult is converted into each requested version, our interface appended', (from, prevResult) => {
    for (const [i, v] of VERSIONS.entries()) {
      const r = add({ conf: conf({ cniVersion: v, deviceID: vfs[i % 4], prevResult }), containerId: `p${i}` });
      expect(r.code, r.stdout).toBe(0);
      const v1 = v.startsWith('1.');
      const eth0: Record<string, unknown> = { name: 'eth0', mac: '0a:58:0a:80:00:05' };
      if (v1 && from.startsWith('1.')) eth0.mtu = 1450;
      eth0.sandbox = LIVE;
      if (v1 && from === '1.1.0') eth0.pciID = '0000:00:03.0';
      const ours: Record<string, unknown> = v1 ? { name: 'net1', mtu: 9000, sandbox: LIVE, pciID: vfs[i % 4] } : { name: 'net1', sandbox: LIVE };
      const ip: Record<string, unknown> = v1 ? { interface: 0, address: '10.128.0.5/23', gateway: '10.128.0.1' } : { version: '4', interface: 0, address: '10.128.0.5/23', gateway: '10.128.0.1' };
      const route = v1 && from.startsWith('1.') ? { dst: '0.0.0.0/0', mtu: 1450 } : { dst: '0.0.0.0/0' };
      const want: Record<string, unknown> = { cniVersion: v, interfaces: [eth0, ours], ips: [ip], routes: [route] };
      if (from === '1.1.0') want.dns = { nameservers: ['10.96.0.10'] };
      else if (!v1) want.dns = {};
      expect(r.stdout).toBe(`${JSON.stringify(want)}\n`);
      expectQuiet(run({ command: 'DEL', conf: conf({ cniVersion: v, deviceID: vfs[i % 4] }), containerId: `p${i}` }));
    }
  });

  it('a prevResult that is not a result → 7 naming prevResult, before IPAM or the device is touched', () => {
    const ipamDir = join(dir.path, 'ipam');
    const r = add({ conf: conf({ deviceID: vfs[0], prevResult: { interfaces: 'eth0' }, ipam: { type: 'host-local', subnet: '10.30.0.0/24', dataDir: ipamDir } }) });
    expectError(r, 7, 'prevResult.interfaces is not an array');
    expect(existsSync(ipamDir)).toBe(false);
    expect(ls(stateDir('attachments'))).toEqual([]);
  });
});

describe('GC attachments', () => {
  function twoAttachments(): void {
    expect(add({ conf: conf({ deviceID: vfs[0] }), containerId: 'keep' }).code).toBe(0);
    expect(add({ conf: conf({ deviceID: vfs[1] }), containerId: 'stale' }).code).toBe(0);
  }
  it.each([
    ['cni.dev/valid-attachments'],
    ['cni.dev/attachments'],
  ])('%s: attachments not listed are released, listed ones kept', (key) => {
    twoAttachments();
    expectQuiet(run({ command: 'GC', conf: conf({ [key]: [{ containerID: 'keep', ifname: 'net1' }] }) }));
    expect(ls(stateDir('attachments'))).toEqual(['dpdk-net@keep@net1.json']);
    expect(ls(stateDir('devices'))).toEqual([`${vfs[0]}.json`]);
  });
  it('libcni sends both keys: valid-attachments is used', () => {
    twoAttachments();
    expectQuiet(run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }], 'cni.dev/attachments': [{ containerID: 'keep', ifname: 'net1' }] }) }));
    expect(ls(stateDir('attachments'))).toEqual(['dpdk-net@keep@net1.json']);
  });
  it('an attachment entry without ifname → 7 naming it', () => {
    expectError(run({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [{ containerID: 'keep' }] }) }), 7, 'field "cni.dev/valid-attachments.0.ifname" must be a string, got nothing');
  });
});

describe('plugin fields through the executable', () => {
  const bad = (extra: Record<string, unknown>) => add({ conf: conf({ deviceID: PFLESS, ...extra }) });

  it.each([
    [{ vlan: 4095 }, 'field "vlan" must be <= 4094, got 4095'],
    [{ vlan: -1 }, 'field "vlan" must be >= 0, got -1'],
    [{ vlan: 1, vlanQoS: 8 }, 'field "vlanQoS" must be <= 7, got 8'],
    [{ vlan: 1, vlanProto: '802.1x' }, 'field "vlanProto" must be "802.1q" or "802.1ad", got "802.1x"'],
    [{ mac: '00:00:00:00:00:00' }, 'field "mac" "00:00:00:00:00:00" is the all-zero address'],
    [{ mac: '33:33:00:00:00:01' }, 'field "mac" "33:33:00:00:00:01" is a multicast address'],
    [{ mtu: 10 }, 'field "mtu" must be >= 68, got 10'],
    [{ spoofchk: 'enabled' }, 'field "spoofchk" must be one of "on", "off", got "enabled"'],
    [{ trust: 1 }, 'field "trust" must be one of "on", "off", got 1'],
    [{ link_state: 'on' }, 'field "link_state" must be one of "auto", "enable", "disable", got "on"'],
    [{ min_tx_rate: 200, max_tx_rate: 100 }, 'field "min_tx_rate" (200) must not exceed "max_tx_rate" (100)'],
    [{ ipam: { type: '../../bin/sh' } }, 'field "ipam.type" must be a plugin file name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got "../../bin/sh"'],
    [{ logLevel: 'loud' }, 'field "logLevel" must be one of'],
    [{ vlanQoS: 2 }, 'field "vlanQoS" (2) needs "vlan" to be set'],
    [{ vlan: 0, vlanQoS: 2 }, 'field "vlanQoS" 2 needs a non-zero "vlan"'],
    [{ vlanProto: '802.1ad' }, 'field "vlanProto" ("802.1ad") needs "vlan" to be set'],
    [{ vlan: 0, vlanProto: '802.1AD' }, 'field "vlanProto" "802.1ad" needs a non-zero "vlan"'],
  ])('%j → 7: %s', (extra, msg) => {
    expectError(bad(extra), 7, `invalid network configuration: ${msg}`);
  });

  it('several violations, of the schema and of the rules, in one message', () => {
    const r = bad({ vlan: 5000, trust: 'yes', mac: 'ff:ff:ff:ff:ff:ff', min_tx_rate: 9, max_tx_rate: 1 });
    expectError(r, 7);
    expect(r.json.msg).toBe(
      'invalid network configuration: field "vlan" must be <= 4094, got 5000; field "trust" must be one of "on", "off", got "yes"; ' +
        'field "mac" "ff:ff:ff:ff:ff:ff" is a multicast address; a device needs a unicast MAC; field "min_tx_rate" (9) must not exceed "max_tx_rate" (1)',
    );
  });

  it('vlanProto is case-insensitive: 802.1Q / 802.1AD are valid (the PF-less device then refuses vlan with 103)', () => {
    expectError(bad({ vlan: 10, vlanQoS: 1, vlanProto: '802.1AD' }), 103, 'so vlan cannot be applied');
    expectError(bad({ vlan: 10, vlanProto: '802.1Q' }), 103, 'so vlan cannot be applied');
  });

  it('a valid ipam.type that is not in CNI_PATH → 106 naming it and the path', () => {
    expectError(bad({ ipam: { type: 'no-such-ipam' } }), 106, 'IPAM plugin "no-such-ipam" not found in CNI_PATH (/usr/lib/cni)');
  });

  it('an MTU above the PF MTU → 2 naming the field, the value and the PF', () => {
    expectError(add({ conf: conf({ deviceID: vfs[0], mtu: 9216 }) }), 2, 'field "mtu" 9216 is above the MTU of PF ens1f0 (9000)');
  });

  it.each([
    ['../../../etc', 'deviceID'],
    ['/sys/bus/pci/devices/0000:00:06.0', 'deviceID'],
    ['0000:00:06.0/..', 'deviceID'],
    ['0000:00:06.0.1', 'deviceID'],
    ['00:06.0', 'deviceID'],
  ])('bad PCI address %j → 7 naming %s, before any path is touched', (id, field) => {
    const r = bad({ deviceID: id });
    expectError(r, 7);
    expect(r.json.msg).toBe(`invalid network configuration: ${field} ${JSON.stringify(id)} is not a PCI address: expected the full form dddd:bb:dd.f (for example 0000:03:02.1)`);
    expect(existsSync(join(node.root, 'var'))).toBe(false);
  });

  it('a bad pciBusID is reported as pciBusID', () => {
    const r = add({ conf: conf({ pciBusID: '00:06.0' }) });
    expectError(r, 7, 'pciBusID "00:06.0" is not a PCI address');
  });

  it('an upper-case address is normalised everywhere (result, marker file)', () => {
    const r = add({ conf: conf({ deviceID: '0000:3B:02.1' }) });
    expect(r.json.interfaces[0].pciID).toBe('0000:3b:02.1');
    expect(ls(stateDir('devices'))).toEqual(['0000:3b:02.1.json']);
  });
});

describe('results in the requested version, through a real ADD', () => {
  it.each(V1)('%s, PF-less vfio-pci device: name, sandbox, pciID (no MAC or MTU known)', (v) => {
    const r = add({ conf: conf({ cniVersion: v, deviceID: PFLESS }) });
    expect(r.stdout).toBe(`{"cniVersion":"${v}","interfaces":[{"name":"net1","sandbox":"${LIVE}","pciID":"${PFLESS}"}]}\n`);
  });

  it.each(V1)('%s, PF-less device recorded by bind: mac and mtu too, in the Go field order', (v) => {
    mkdirSync(stateDir('known'), { recursive: true });
    writeFileSync(stateDir('known', `${PFLESS}.json`), JSON.stringify({ pci: PFLESS, mac: '02:1d:0f:00:00:06', mtu: 9001 }));
    const r = add({ conf: conf({ cniVersion: v, deviceID: PFLESS }) });
    expect(r.stdout).toBe(`{"cniVersion":"${v}","interfaces":[{"name":"net1","mac":"02:1d:0f:00:00:06","mtu":9001,"sandbox":"${LIVE}","pciID":"${PFLESS}"}]}\n`);
  });

  it.each(V0)('%s is down-converted: no mtu, no pciID, dns always present', (v) => {
    mkdirSync(stateDir('known'), { recursive: true });
    writeFileSync(stateDir('known', `${PFLESS}.json`), JSON.stringify({ pci: PFLESS, mac: '02:1d:0f:00:00:06', mtu: 9001 }));
    const r = add({ conf: conf({ cniVersion: v, deviceID: PFLESS }) });
    expect(r.stdout).toBe(`{"cniVersion":"${v}","interfaces":[{"name":"net1","mac":"02:1d:0f:00:00:06","sandbox":"${LIVE}"}],"dns":{}}\n`);
  });

  it.each(VERSIONS)('%s, DPDK VF: the MTU is the PF\'s (read from net/<pf>/mtu) in 1.x only', (v) => {
    const r = add({ conf: conf({ cniVersion: v, deviceID: vfs[2] }) });
    const want = v.startsWith('1.')
      ? { cniVersion: v, interfaces: [{ name: 'net1', mtu: 9000, sandbox: LIVE, pciID: vfs[2] }] }
      : { cniVersion: v, interfaces: [{ name: 'net1', sandbox: LIVE }], dns: {} };
    expect(r.stdout).toBe(`${JSON.stringify(want)}\n`);
  });

  it.each(VERSIONS)('%s with host-local IPAM (v4 + v6, routes, dns): ips[].interface points at our interface', (v) => {
    const resolv = join(dir.path, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 10.96.0.10\nsearch team-a.svc.cluster.local svc.cluster.local\noptions ndots:5\ndomain cluster.local\n');
    const ipam = {
      type: 'host-local',
      ranges: [[{ subnet: '10.40.0.0/24' }], [{ subnet: 'fd00:40::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.40.0.254' }],
      resolvConf: resolv,
      dataDir: join(dir.path, 'ipam'),
    };
    const r = add({ conf: conf({ cniVersion: v, deviceID: vfs[0], ipam }) });
    expect(r.code, r.stdout).toBe(0);
    const v1 = v.startsWith('1.');
    const ip = (version: string, address: string, gateway: string) => (v1 ? { interface: 0, address, gateway } : { version, interface: 0, address, gateway });
    const want = {
      cniVersion: v,
      interfaces: [v1 ? { name: 'net1', mtu: 9000, sandbox: LIVE, pciID: vfs[0] } : { name: 'net1', sandbox: LIVE }],
      ips: [ip('4', '10.40.0.2/24', '10.40.0.1'), ip('6', 'fd00:40::2/64', 'fd00:40::1')],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.40.0.254' }],
      dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['team-a.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
    };
    expect(r.stdout).toBe(`${JSON.stringify(want)}\n`);
    expect(r.json.interfaces[r.json.ips[0].interface].name).toBe('net1');
    expectQuiet(run({ command: 'DEL', conf: conf({ cniVersion: v, deviceID: vfs[0], ipam }) }));
    expect(readdirSync(join(dir.path, 'ipam', 'dpdk-net')).filter((f) => /^(10\.|fd00)/.test(f))).toEqual([]);
  });
});

describe('errors', () => {
  it('an error is {cniVersion, code, msg, details} on stdout with exit code 1, in the netconf version', () => {
    const r = add({ conf: conf({ cniVersion: '0.4.0', deviceID: '0000:00:1f.7' }) });
    expect(r.code).toBe(1);
    expect(r.json).toEqual({
      cniVersion: '0.4.0',
      code: 100,
      msg: `PCI device 0000:00:1f.7 not found (no ${node.root}/sys/bus/pci/devices/0000:00:1f.7): check the device plugin's allocation and the deviceID`,
      details: '',
    });
    const last = logLines(r.stderr).pop();
    expect(last).toMatchObject({ level: 50, code: 100, msg: r.json.msg });
  });

  it.each(['0.3.0', '0.3.1'])('CHECK on a %s config → 1', (v) => {
    const r = run({ command: 'CHECK', conf: conf({ cniVersion: v, deviceID: PFLESS }), netns: LIVE });
    expectError(r, 1);
    expect(r.json.msg).toBe(`config version ${v} does not allow CHECK (needs >= 0.4.0)`);
    expect(r.json.cniVersion).toBe(v);
  });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0'].flatMap((v) => [['STATUS', v], ['GC', v]]))('%s on a %s config → 1', (command, v) => {
    const r = run({ command, conf: conf({ cniVersion: v }) });
    expectError(r, 1);
    expect(r.json.msg).toBe(`config version ${v} does not allow ${command} (needs >= 1.1.0)`);
  });

  it('STATUS on a usable node → exit 0, empty stdout (also with host-local IPAM, which predates STATUS)', () => {
    expectQuiet(run({ command: 'STATUS', conf: conf() }));
    expectQuiet(run({ command: 'STATUS', conf: conf({ ipam: { type: 'host-local', subnet: '10.50.0.0/24', dataDir: join(dir.path, 'ipam') } }) }));
  });

  it('STATUS with DPDK_CNI_ROOT pointing at a file → 50 naming the state directory', () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'x');
    const r = run({ command: 'STATUS', conf: conf(), root: file });
    expectError(r, 50, `state directory ${file}/var/lib/cni/dpdk-cni is not usable`);
  });

  it('STATUS on a read-only state filesystem → 50 (state dir missing, or present but read-only)', () => {
    const ro = join(dir.path, 'ro');
    mkdirSync(ro);
    expect(sh('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'dpdk-cni-test', ro]).code).toBe(0);
    try {
      expectError(run({ command: 'STATUS', conf: conf(), root: ro }), 50, `state directory ${ro}/var/lib/cni/dpdk-cni is not usable`);
      expect(sh('mount', ['-o', 'remount,rw', ro]).code).toBe(0);
      mkdirSync(join(ro, 'var/lib/cni/dpdk-cni/attachments'), { recursive: true });
      mkdirSync(join(ro, 'var/lib/cni/dpdk-cni/devices'), { recursive: true });
      expect(sh('mount', ['-o', 'remount,ro', ro]).code).toBe(0);
      const r = run({ command: 'STATUS', conf: conf(), root: ro });
      expectError(r, 50, `state directory ${ro}/var/lib/cni/dpdk-cni is not usable`, 'read-only file system');
    } finally {
      sh('umount', [ro]);
    }
  });

  it('a relative DPDK_CNI_ROOT is an environment error (4) naming it, not an internal error with a stack trace', () => {
    const r = run({ command: 'STATUS', conf: conf(), root: 'relative/root' });
    expectError(r, 4);
    expect(r.json.msg).toBe('DPDK_CNI_ROOT must be an absolute path, got "relative/root"');
  });

  it.each(['/etc/dpdk-cni.log', '/var/logs/x.log', '/var/log', '/var/log/../../etc/x', 'dpdk-cni.log'])('logFile %j is refused without failing ADD: one warning on stderr naming it', (logFile) => {
    const r = add({ conf: conf({ deviceID: PFLESS, logFile }) });
    expect(r.code, r.stdout).toBe(0);
    const warn = logLines(r.stderr).filter((l) => l.level === 40);
    expect(warn).toHaveLength(1);
    expect(warn[0]!.msg).toContain(`logFile ${JSON.stringify(logFile)}`);
    expect(existsSync(join(node.root, 'etc/dpdk-cni.log'))).toBe(false);
  });

  it('logFile under <root>/var/log gets pino-format lines with the call context; stderr stays empty', () => {
    const c = conf({ deviceID: PFLESS, logFile: '/var/log/dpdk-cni/dpdk-cni.log', logLevel: 'debug' });
    const r = add({ conf: c, args: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web-0', containerId: 'ctr9' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stderr).toBe('');
    const lines = logLines(readFileSync(join(node.root, 'var/log/dpdk-cni/dpdk-cni.log'), 'utf8'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) {
      expect(l).toMatchObject({ pid: expect.any(Number), hostname: expect.any(String), cmd: 'ADD', containerID: 'ctr9', ifname: 'net1', podNamespace: 'team-a', podName: 'web-0' });
      expect([50, 40, 30, 20]).toContain(l.level);
      expect(Math.abs((l.time as number) - Date.now())).toBeLessThan(60_000);
      expect(typeof l.msg).toBe('string');
    }
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['device classified', 'attached']));
    expect(lines.find((l) => l.msg === 'device classified')?.level).toBe(20);
    // the next call appends
    expectQuiet(run({ command: 'DEL', conf: c, containerId: 'ctr9' }));
    const after = logLines(readFileSync(join(node.root, 'var/log/dpdk-cni/dpdk-cni.log'), 'utf8'));
    expect(after.length).toBeGreaterThan(lines.length);
    expect(after.at(-1)).toMatchObject({ cmd: 'DEL', msg: 'released' });
  });
});
