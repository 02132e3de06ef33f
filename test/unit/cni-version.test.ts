import { describe, expect, it } from 'vitest';
import { atLeast, compareVersions, CURRENT_VERSION, isSupportedVersion, peekVersion, SUPPORTED_VERSIONS } from '../../src/cni/version.js';

describe('CNI versions', () => {
  it('peekVersion reads only a string cniVersion of an object', () => {
    expect(peekVersion({ cniVersion: '0.4.0' })).toBe('0.4.0');
    expect(peekVersion({ cniVersion: 4 })).toBeUndefined();
    expect(peekVersion(['x'])).toBeUndefined();
    expect(peekVersion(null)).toBeUndefined();
  });

  it('supports exactly 0.3.0-1.1.0, current 1.1.0', () => {
    expect([...SUPPORTED_VERSIONS]).toEqual(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    expect(CURRENT_VERSION).toBe('1.1.0');
  });

  it('an exact string match is needed (as the Go reconciler requires)', () => {
    expect(isSupportedVersion('1.0.0')).toBe(true);
    for (const v of ['1.0', '1', 'v1.0.0', '1.0.0 ', '0.2.0', '0.1.0', '1.2.0', 1, undefined, null]) expect(isSupportedVersion(v)).toBe(false);
  });

  it('compares numerically, not as strings', () => {
    expect(compareVersions('0.10.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareVersions('0.3.1', '0.3.0')).toBeGreaterThan(0);
    expect(compareVersions('1.1.0', '1.1.0')).toBe(0);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
  });

  it.each([
    ['0.3.0', '0.4.0', false], ['0.3.1', '0.4.0', false], ['0.4.0', '0.4.0', true], ['1.0.0', '0.4.0', true],
    ['1.0.0', '1.1.0', false], ['1.1.0', '1.1.0', true],
  ])('atLeast(%s, %s) = %s (the CHECK and STATUS/GC gates)', (v, min, want) => {
    expect(atLeast(v, min)).toBe(want);
  });
});
