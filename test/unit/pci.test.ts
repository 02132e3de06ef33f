import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import { isBdf, parseBdf, routingId, sameDomain } from '../../src/device/pci.js';

describe('parseBdf', () => {
  it.each([
    ['0000:00:06.0', '0000:00:06.0'],
    ['0000:3b:02.1', '0000:3b:02.1'],
    ['0000:AF:1F.7', '0000:af:1f.7'],
    ['ABCD:ff:00.0', 'abcd:ff:00.0'],
  ])('%s → %s (lower-cased, as the kernel names it)', (raw, want) => {
    expect(parseBdf(raw)).toBe(want);
    expect(isBdf(raw)).toBe(true);
  });

  it.each([
    '00:06.0', // short form without domain
    '0:00:06.0',
    '0000:0:06.0',
    '0000:00:6.0',
    '0000:00:06', // no function
    '0000:00:06.8', // function > 7
    '0000:00:20.0', // device > 0x1f
    '0000:00:06.0.1', // extra segment
    '0000:00:06.0:1',
    '0000:00:06.0/../../x',
    '../0000:00:06.0',
    '../../etc/passwd',
    '/sys/bus/pci/devices/0000:00:06.0',
    '0000:00:06.0/',
    ' 0000:00:06.0',
    '0000:00:06.0\n',
    '0000:g0:06.0',
    '',
  ])('%j is refused with code 7 naming the field and the value', (raw) => {
    let err: unknown;
    try {
      parseBdf(raw, 'pciBusID');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    expect((err as CniError).message).toBe(`pciBusID ${JSON.stringify(raw)} is not a PCI address: expected the full form dddd:bb:dd.f (for example 0000:03:02.1)`);
  });

  it('the default field name is deviceID', () => {
    expect(() => parseBdf('x')).toThrow(/^deviceID "x" is not a PCI address/);
  });
});

describe('routingId and sameDomain (VF index arithmetic)', () => {
  it.each([
    ['0000:00:00.0', 0],
    ['0000:00:00.7', 7],
    ['0000:00:01.0', 8],
    ['0000:3b:00.0', 0x3b00],
    ['0000:3b:02.1', 0x3b11],
    ['0000:ff:1f.7', 0xffff],
  ])('%s → %i', (bdf, id) => {
    expect(routingId(bdf)).toBe(id);
  });
  it('a non-address has no routing ID', () => {
    expect(routingId('junk')).toBe(-1);
  });
  it('compares the PCI domain', () => {
    expect(sameDomain('0000:3b:00.0', '0000:3b:02.1')).toBe(true);
    expect(sameDomain('0000:3b:00.0', '0001:3b:02.1')).toBe(false);
  });
});
