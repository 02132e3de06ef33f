import { describe, expect, it } from 'vitest';
import { inexactIntegers } from '../../src/tools/apply/device-plugin.js';

/** node apply rewrites config.json through JSON.parse/stringify: numbers that would not survive are found first. */
describe('inexactIntegers', () => {
  it('finds integers beyond 2^53 outside strings, and nothing else', () => {
    const text = '{"a":12345678901234567890,"b":"12345678901234567890","c":1.5e300,"d":-9007199254740993,"e":9007199254740991,"f":"x\\"99999999999999999999","g":[10, 0, -1]}';
    expect(inexactIntegers(text)).toEqual(['12345678901234567890', '-9007199254740993']);
  });

  it('a config with only small numbers and strings has none', () => {
    expect(inexactIntegers(JSON.stringify({ resourceList: [{ resourceName: 'x', selectors: [{ vendors: ['8086'] }] }], logLevel: 10 }, null, 2))).toEqual([]);
  });
});
