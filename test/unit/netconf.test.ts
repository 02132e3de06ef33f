import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { checkUsableMac, decodeJson, loadNetConf } from '../../src/config/netconf.js';
import { devicePci } from '../../src/verbs/common.js';
import { expectCniError } from '../helpers/errors.js';

const base = { cniVersion: '1.0.0', name: 'dpdk-net', type: 'dpdk-cni' };
const load = (extra: Record<string, unknown> = {}) => {
  const raw = JSON.stringify({ ...base, ...extra });
  return loadNetConf(raw);
};

const refused = expectCniError;
const bad = (extra: Record<string, unknown>) => refused(() => load(extra));

describe('decoding stdin', () => {
  it.each(['', '{', '{"name":', 'not json', '{"a":1}}'])('undecodable %j → code 6', (raw) => {
    const e = refused(() => decodeJson(raw));
    expect(e.code).toBe(6);
    expect(e.message).toMatch(/^the network configuration on stdin is not valid JSON: /);
  });
  it.each([['[]', 'an array'], ['[{"name":"x"}]', 'an array'], ['5', 'a number'], ['"str"', 'a string'], ['null', 'null'], ['true', 'a boolean']])('valid JSON that is not an object (%s) → code 7 (6 is for undecodable JSON only)', (raw, got) => {
    const e = refused(() => loadNetConf(raw));
    expect([e.code, e.message]).toEqual([7, `the network configuration on stdin must be a JSON object, got ${got}`]);
  });
});

describe('name and cniVersion', () => {
  it.each([[undefined, 'nothing'], ['', '""'], ['a/b', '"a/b"'], ['-x', '"-x"'], [5, '5'], ['has space', '"has space"']])('name %j → code 7 naming the field and the value', (name, shown) => {
    const e = bad({ name });
    expect([e.code, e.message]).toEqual([7, `invalid network configuration: field "name" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got ${shown}`]);
  });

  it('a missing cniVersion is 0.1.0 (as libcni decodes it) and is refused with code 1', () => {
    const e = refused(() => loadNetConf(JSON.stringify({ name: 'n' })));
    expect([e.code, e.message]).toEqual([1, 'incompatible CNI versions: config is "0.1.0", plugin supports [0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0]']);
  });
  it.each([['0.2.0', '"0.2.0"'], ['1.2.0', '"1.2.0"'], ['1.0', '"1.0"'], [1, '1'], ['', '""']])('cniVersion %j → code 1 quoting it', (v, shown) => {
    const e = bad({ cniVersion: v });
    expect([e.code, e.message]).toEqual([1, `incompatible CNI versions: config is ${shown}, plugin supports [0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0]`]);
  });
  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('cniVersion %s is accepted', (v) => {
    expect(load({ cniVersion: v }).cniVersion).toBe(v);
  });
});

describe('what runtimes and Multus add is tolerated', () => {
  it('unknown keys, capabilities, args.cni, dns, an empty ipam and runtimeConfig extras', () => {
    const c = load({
      someVendorKey: { nested: [1, 2] },
      capabilities: { deviceID: true, mac: true, ips: true, CNIDeviceInfoFile: true },
      args: { cni: { labels: [{ key: 'a', value: 'b' }], ips: ['10.0.0.1/24'] } },
      dns: { nameservers: ['10.0.0.10'] },
      ipam: {},
      runtimeConfig: { deviceID: '0000:00:06.0', portMappings: [], ips: ['10.1.0.5/24'], CNIDeviceInfoFile: '/var/run/k8s.cni.cncf.io/devinfo/cni/x' },
    });
    expect(c.ipam).toBeUndefined();
    expect(c.deviceID).toBe('0000:00:06.0');
    expect(c.deviceInfoFile).toBe('/var/run/k8s.cni.cncf.io/devinfo/cni/x');
  });

  it('keeps the exact stdin bytes for IPAM', () => {
    const raw = `{"cniVersion":"1.0.0","name":"n",  "ipam":{"type":"host-local","subnet":"10.0.0.0/24"}}`;
    const c = loadNetConf(raw);
    expect(c.raw).toBe(raw);
    expect(c.ipam).toEqual({ type: 'host-local', subnet: '10.0.0.0/24' });
  });

  it.each([
    [{ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'net1', extra: 1 }] }],
    [{ 'cni.dev/attachments': [{ containerID: 'a', ifname: 'net1' }] }],
    [{ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'net1' }], 'cni.dev/attachments': [{ containerID: 'b', ifname: 'net2' }] }],
  ])('GC attachments from cni.dev/valid-attachments, else the legacy cni.dev/attachments (%#)', (extra) => {
    const c = load({ cniVersion: '1.1.0', ...extra });
    const first = Object.values(extra)[0] as Array<{ containerID: string; ifname: string }>;
    expect(c.validAttachments).toEqual(first.map((a) => ({ containerID: a.containerID, ifname: a.ifname })));
  });

  it('an attachment without ifname is code 7 naming the element', () => {
    const e = bad({ 'cni.dev/valid-attachments': [{ containerID: 'x' }] });
    expect(e.message).toBe('invalid network configuration: field "cni.dev/valid-attachments.0.ifname" must be a string, got nothing');
  });

  it.each([
    [{ prevResult: { cniVersion: '0.3.1', interfaces: [{ name: 'eth0' }], ips: [{ version: '4', address: '10.0.0.2/24', interface: 0 }] } }],
    [{ prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mtu: 1500, pciID: '0000:00:05.0' }] } }],
  ])('prevResult is kept as given (%#)', (extra) => {
    expect(load(extra).prevResult).toEqual(extra.prevResult);
  });
});

describe('device selection', () => {
  it('runtimeConfig.deviceID > deviceID > pciBusID', () => {
    expect(load({ pciBusID: '0000:00:01.0', deviceID: '0000:00:02.0', runtimeConfig: { deviceID: '0000:00:03.0' } }).deviceID).toBe('0000:00:03.0');
    expect(load({ pciBusID: '0000:00:01.0', deviceID: '0000:00:02.0' }).deviceID).toBe('0000:00:02.0');
    expect(load({ pciBusID: '0000:00:01.0' }).deviceID).toBe('0000:00:01.0');
    expect(load({}).deviceID).toBeUndefined();
  });

  it('devicePci: no device → code 7 telling how Multus injects one', () => {
    const e = refused(() => devicePci(load({})));
    expect(e.code).toBe(7);
    expect(e.message).toContain('no device given: set "deviceID" (or "pciBusID")');
    expect(e.message).toContain('"capabilities": {"deviceID": true}');
  });

  it.each([
    ['deviceID', { deviceID: '00:06.0' }],
    ['pciBusID', { pciBusID: '0000:00:06.0/../../x' }],
    ['runtimeConfig.deviceID', { deviceID: '0000:00:06.0', runtimeConfig: { deviceID: '../0000:00:06.0' } }],
  ])('devicePci: a bad address is code 7 naming the field it came from (%s) and the value', (field, extra) => {
    const c = load(extra);
    const e = refused(() => devicePci(c));
    expect(e.code).toBe(7);
    expect(e.message).toBe(`${field} ${JSON.stringify(c.deviceID)} is not a PCI address: expected the full form dddd:bb:dd.f (for example 0000:03:02.1)`);
  });

  it('devicePci lower-cases the address', () => {
    expect(devicePci(load({ deviceID: '0000:AF:0A.7' }))).toBe('0000:af:0a.7');
  });
});

describe('plugin fields: accepted values', () => {
  it('a full, valid configuration is normalised', () => {
    const c = load({
      deviceID: '0000:3b:02.1', vlan: 4094, vlanQoS: 7, vlanProto: '802.1AD', mac: '02:AA:bb:cc:dd:ee', mtu: 9000,
      spoofchk: 'off', trust: 'on', link_state: 'disable', min_tx_rate: 10, max_tx_rate: 100,
      ipam: { type: 'host-local', subnet: '10.0.0.0/24' }, logLevel: 'warning', logFile: '/var/log/dpdk-cni.log',
      runtimeConfig: { mac: '02:00:00:00:00:AA' },
    });
    expect(c).toMatchObject({
      cniVersion: '1.0.0', name: 'dpdk-net', type: 'dpdk-cni', deviceID: '0000:3b:02.1',
      vlan: 4094, vlanQoS: 7, vlanProto: '802.1ad', mac: '02:aa:bb:cc:dd:ee', runtimeMac: '02:00:00:00:00:aa', mtu: 9000,
      spoofchk: 'off', trust: 'on', linkState: 'disable', minTxRate: 10, maxTxRate: 100,
      ipam: { type: 'host-local', subnet: '10.0.0.0/24' }, logLevel: 'warn', logFile: '/var/log/dpdk-cni.log',
    });
  });

  it.each([
    [{ vlan: 0 }, { vlan: 0 }],
    [{ vlan: 0, vlanQoS: 0 }, { vlan: 0, vlanQoS: 0 }],
    [{ vlan: 0, vlanProto: '802.1Q' }, { vlan: 0, vlanProto: '802.1q' }],
    [{ vlan: 5, vlanProto: '802.1ad' }, { vlan: 5, vlanProto: '802.1ad' }],
    [{ min_tx_rate: 100, max_tx_rate: 0 }, { minTxRate: 100, maxTxRate: 0 }], // max 0 = no limit
    [{ min_tx_rate: 50, max_tx_rate: 50 }, { minTxRate: 50, maxTxRate: 50 }],
    [{ link_state: 'auto' }, { linkState: 'auto' }],
    [{ mtu: 68 }, { mtu: 68 }],
    [{ mtu: 65535 }, { mtu: 65535 }],
    [{ mac: '' }, {}],
  ])('%j is accepted', (extra, want) => {
    expect(load(extra)).toMatchObject(want);
  });

  it.each([
    ['panic', 'error'], ['fatal', 'error'], ['error', 'error'], ['warning', 'warn'], ['warn', 'warn'], ['info', 'info'], ['debug', 'debug'], ['trace', 'debug'],
  ])('logLevel %s maps to %s; the default is info', (lvl, want) => {
    expect(load({ logLevel: lvl }).logLevel).toBe(want);
    expect(load({}).logLevel).toBe('info');
  });
});

describe('plugin fields: every violation is code 7 naming the field and the bad value', () => {
  it.each([
    [{ vlan: -1 }, 'field "vlan" must be >= 0, got -1'],
    [{ vlan: 4095 }, 'field "vlan" must be <= 4094, got 4095'],
    [{ vlan: 1.5 }, 'field "vlan" must be an integer, got 1.5'],
    [{ vlan: '100' }, 'field "vlan" must be a number, got "100"'],
    [{ vlan: 1, vlanQoS: 8 }, 'field "vlanQoS" must be <= 7, got 8'],
    [{ vlan: 1, vlanQoS: -1 }, 'field "vlanQoS" must be >= 0, got -1'],
    [{ vlan: 1, vlanProto: 'qinq' }, 'field "vlanProto" must be "802.1q" or "802.1ad", got "qinq"'],
    [{ vlan: 1, vlanProto: 8021 }, 'field "vlanProto" must be a string, got 8021'],
    [{ mac: 'zz:zz:zz:zz:zz:zz' }, 'field "mac" "zz:zz:zz:zz:zz:zz" is not a MAC address (expected xx:xx:xx:xx:xx:xx)'],
    [{ mac: '02:00:00:00:00' }, 'field "mac" "02:00:00:00:00" is not a MAC address (expected xx:xx:xx:xx:xx:xx)'],
    [{ mac: '01:00:5e:00:00:01' }, 'field "mac" "01:00:5e:00:00:01" is a multicast address; a device needs a unicast MAC'],
    [{ mac: 'ff:ff:ff:ff:ff:ff' }, 'field "mac" "ff:ff:ff:ff:ff:ff" is a multicast address; a device needs a unicast MAC'],
    [{ mac: '00:00:00:00:00:00' }, 'field "mac" "00:00:00:00:00:00" is the all-zero address'],
    [{ runtimeConfig: { mac: '03:00:00:00:00:01' } }, 'field "runtimeConfig.mac" "03:00:00:00:00:01" is a multicast address; a device needs a unicast MAC'],
    [{ mtu: 67 }, 'field "mtu" must be >= 68, got 67'],
    [{ mtu: 65536 }, 'field "mtu" must be <= 65535, got 65536'],
    [{ mtu: '9000' }, 'field "mtu" must be a number, got "9000"'],
    [{ spoofchk: 'yes' }, 'field "spoofchk" must be one of "on", "off", got "yes"'],
    [{ spoofchk: true }, 'field "spoofchk" must be one of "on", "off", got true'],
    [{ trust: 'ON' }, 'field "trust" must be one of "on", "off", got "ON"'],
    [{ link_state: 'up' }, 'field "link_state" must be one of "auto", "enable", "disable", got "up"'],
    [{ min_tx_rate: -5 }, 'field "min_tx_rate" must be >= 0, got -5'],
    [{ max_tx_rate: 2.5 }, 'field "max_tx_rate" must be an integer, got 2.5'],
    [{ min_tx_rate: 100, max_tx_rate: 10 }, 'field "min_tx_rate" (100) must not exceed "max_tx_rate" (10)'],
    [{ ipam: { type: '../host-local' } }, 'field "ipam.type" must be a plugin file name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got "../host-local"'],
    [{ ipam: { type: '/usr/lib/cni/host-local' } }, 'field "ipam.type" must be a plugin file name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got "/usr/lib/cni/host-local"'],
    [{ ipam: { subnet: '10.0.0.0/24' } }, 'field "ipam.type" must be a plugin file name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got nothing'],
    [{ ipam: { type: 5 } }, 'field "ipam.type" must be a string, got 5'],
    [{ logLevel: 'verbose' }, 'field "logLevel" must be one of "panic", "fatal", "error", "warning", "warn", "info", "debug", "trace", got "verbose"'],
    [{ logFile: 5 }, 'field "logFile" must be a string, got 5'],
    [{ deviceID: 5 }, 'field "deviceID" must be a string, got 5'],
    [{ vdpaDevice: '../vdpa0' }, 'field "vdpaDevice" has an invalid format, got "../vdpa0"'],
    [{ runtimeConfig: { ips: '10.0.0.1/24' } }, 'field "runtimeConfig.ips" must be an array, got "10.0.0.1/24"'],
    [{ args: { cni: 5 } }, 'field "args.cni" must be an object, got 5'],
    [{ dns: [] }, 'field "dns" must be an object, got []'],
  ])('%j → %s', (extra, msg) => {
    const e = bad(extra);
    expect(e.code).toBe(7);
    expect(e.message).toBe(`invalid network configuration: ${msg}`);
  });
});

describe('cross-field rules (as sriov-cni applies them)', () => {
  it.each([
    [{ vlanQoS: 3 }, 'field "vlanQoS" (3) needs "vlan" to be set'],
    [{ vlanQoS: 0 }, 'field "vlanQoS" (0) needs "vlan" to be set'],
    [{ vlan: 0, vlanQoS: 3 }, 'field "vlanQoS" 3 needs a non-zero "vlan"'],
    [{ vlanProto: '802.1q' }, 'field "vlanProto" ("802.1q") needs "vlan" to be set'],
    [{ vlan: 0, vlanProto: '802.1AD' }, 'field "vlanProto" "802.1ad" needs a non-zero "vlan"'],
  ])('%j → %s', (extra, msg) => {
    const e = bad(extra);
    expect([e.code, e.message]).toEqual([7, `invalid network configuration: ${msg}`]);
  });

  it('several rule violations are reported together, in one message', () => {
    const e = bad({ vlanQoS: 3, vlanProto: '802.1AD', mac: '00:00:00:00:00:00', min_tx_rate: 100, max_tx_rate: 10, ipam: { type: '../x' } });
    expect(e.message).toBe(
      'invalid network configuration: field "vlanQoS" (3) needs "vlan" to be set; field "vlanProto" ("802.1AD") needs "vlan" to be set; ' +
        'field "mac" "00:00:00:00:00:00" is the all-zero address; field "min_tx_rate" (100) must not exceed "max_tx_rate" (10); ' +
        'field "ipam.type" must be a plugin file name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got "../x"',
    );
  });

  it('type/range violations and rule violations are reported together too', () => {
    const e = bad({ vlan: 5000, spoofchk: 'yes', mac: '01:00:00:00:00:01', ipam: { type: 'a/b' }, min_tx_rate: 100, max_tx_rate: 10 });
    expect(e.code).toBe(7);
    expect(e.message).toBe(
      'invalid network configuration: field "vlan" must be <= 4094, got 5000; field "spoofchk" must be one of "on", "off", got "yes"; ' +
        'field "mac" "01:00:00:00:00:01" is a multicast address; a device needs a unicast MAC; field "min_tx_rate" (100) must not exceed "max_tx_rate" (10); ' +
        'field "ipam.type" must be a plugin file name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got "a/b"',
    );
  });

  it('a rule is not reported against a field that is already invalid (no "needs vlan" when vlan is out of range)', () => {
    const e = bad({ vlan: 9999, vlanQoS: 3, vlanProto: '802.1ad' });
    expect(e.message).toBe('invalid network configuration: field "vlan" must be <= 4094, got 9999');
  });
});

describe('checkUsableMac', () => {
  it('lower-cases a usable unicast MAC', () => {
    expect(checkUsableMac('02:AB:CD:EF:01:23', 'mac')).toBe('02:ab:cd:ef:01:23');
  });
  it.each(['02-00-00-00-00-01', '0200.0000.0001', '02:00:00:00:00:01:02', ' 02:00:00:00:00:01'])('%j is not a MAC (code 7)', (m) => {
    expect(refused(() => checkUsableMac(m, 'field "mac"')).code).toBe(7);
  });
});
