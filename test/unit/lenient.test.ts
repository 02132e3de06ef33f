import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { loadLenientNetConf } from '../../src/config/lenient.js';
import { loadNetConf } from '../../src/config/netconf.js';

/** What DEL and GC make of a netconf the strict rules refuse. */
function lenient(obj: Record<string, unknown>, command: 'DEL' | 'GC' = 'DEL', raw = JSON.stringify(obj)) {
  let strict: unknown;
  try {
    loadNetConf(raw, obj);
  } catch (e) {
    strict = e;
  }
  expect(strict, 'the strict rules must refuse this netconf').toBeInstanceOf(CniError);
  return loadLenientNetConf(raw, obj, command, strict);
}

const base = { cniVersion: '1.1.0', name: 'net', type: 'dpdk-cni' };

describe('loadLenientNetConf (DEL and GC)', () => {
  it('keeps the valid fields DEL needs and names the invalid ones it left out', () => {
    const r = lenient({ ...base, deviceID: '0000:00:06.0', ipam: { type: 'host-local', subnet: '10.1.0.0/24' }, vlan: 'x', logLevel: 'verbose', logFile: 7 });
    expect(r.conf).toMatchObject({ name: 'net', cniVersion: '1.1.0', deviceID: '0000:00:06.0', ipam: { type: 'host-local' }, logLevel: 'info' });
    expect(r.conf?.logFile).toBeUndefined();
    expect(r.ignored).toEqual(['logLevel', 'logFile']);
    expect(r.conf?.raw).toBe(JSON.stringify({ ...base, deviceID: '0000:00:06.0', ipam: { type: 'host-local', subnet: '10.1.0.0/24' }, vlan: 'x', logLevel: 'verbose', logFile: 7 }));
  });

  it('an invalid ipam.type is left out (no plugin is run by that name)', () => {
    const r = lenient({ ...base, ipam: { type: '../../bin/sh' } });
    expect(r.conf?.ipam).toBeUndefined();
    expect(r.ignored).toEqual(['ipam']);
  });

  it('only runtimeConfig.deviceID is taken from runtimeConfig', () => {
    const r = lenient({ ...base, runtimeConfig: { deviceID: '0000:00:07.0', CNIDeviceInfoFile: '/etc/x', mac: 'zz' }, vlan: -1 });
    expect(r.conf).toMatchObject({ deviceID: '0000:00:07.0', deviceIDField: 'runtimeConfig.deviceID' });
    expect(r.conf?.deviceInfoFile).toBeUndefined();
  });

  it('an invalid network name: no conf (nothing can have been saved under it)', () => {
    expect(lenient({ ...base, name: 'a/b' }).conf).toBeUndefined();
    expect(lenient({ ...base, name: 5 }).conf).toBeUndefined();
  });

  it('an unsupported cniVersion stays an error (1)', () => {
    expect(() => lenient({ ...base, cniVersion: '9.9.9', vlan: 'x' })).toThrow(expect.objectContaining({ code: 1 }));
  });

  it('GC: a malformed list of valid attachments stays an error (7); DEL ignores it', () => {
    const obj = { ...base, vlan: 'x', 'cni.dev/valid-attachments': [{ containerID: 'a' }] };
    expect(() => lenient(obj, 'GC')).toThrow(expect.objectContaining({ code: 7 }));
    expect(lenient(obj, 'DEL').ignored).toEqual(['cni.dev/valid-attachments']);
    expect(lenient({ ...base, vlan: 'x', 'cni.dev/attachments': [{ containerID: 'a', ifname: 'net1' }] }, 'GC').conf?.validAttachments).toEqual([{ containerID: 'a', ifname: 'net1' }]);
  });

  it('a field nested thousands of levels deep is refused (7) or ignored, never a stack overflow', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20000; i++) deep = [{ a: deep }];
    // the strict rules refuse the whole netconf for its depth; the lenient reading must still answer
    const obj = { ...base, vlan: 'x', 'cni.dev/valid-attachments': deep, ipam: { type: 'host-local', x: deep } };
    const raw = '(the bytes as received)';
    expect(() => lenient(obj, 'GC', raw)).toThrow(expect.objectContaining({ code: 7 }));
    expect(lenient(obj, 'DEL', raw).ignored).toEqual(['ipam', 'cni.dev/valid-attachments']);
  });
});
