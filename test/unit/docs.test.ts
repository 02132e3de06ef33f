import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../src/cni/errors.js';
import { REPO } from '../helpers/cni.js';

describe('README', () => {
  const readme = readFileSync(`${REPO}/README.md`, 'utf8');

  it('starts with exactly two commands: the demo and the tests', () => {
    const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const cmds = block.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    expect(cmds).toHaveLength(2);
    expect(cmds[0]).toMatch(/npm run demo/);
    expect(cmds[1]).toMatch(/test\/run-all\.sh/);
    expect(readme.indexOf('```sh')).toBeLessThan(200);
  });

  it('documents every error code the plugin can return, with the same text', () => {
    for (const [code, text] of ERROR_TABLE) {
      expect(readme).toContain(`| ${code} | ${text} |`);
    }
  });

  it('documents every netconf field the schema accepts', async () => {
    const { netConfSchema } = await import('../../src/config/netconf.js');
    const internal = new Set(['cniVersion', 'name', 'type', 'runtimeConfig', 'args', 'prevResult', 'dns', 'cni.dev/valid-attachments', 'cni.dev/attachments']);
    for (const key of Object.keys(netConfSchema.def.shape)) {
      if (internal.has(key)) continue;
      expect(readme, `README lacks field ${key}`).toMatch(new RegExp(`\`${key}\``));
    }
  });
});
