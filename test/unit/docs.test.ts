import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../src/cni/errors.js';
import { REPO } from '../helpers/cni.js';

const read = (file: string): string => readFileSync(join(REPO, file), 'utf8');

describe('README: a front page', () => {
  const readme = read('README.md');

  it('is at most 10,000 bytes', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(10_000);
  });

  it('opens with exactly two commands, the demo and the tests, run without sudo', () => {
    const first = /```[a-z]*\n([\s\S]*?)```/.exec(readme);
    expect(first?.index ?? Infinity).toBeLessThan(200);
    const lines = (first?.[1] ?? '').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['npm ci && npm run demo', 'bash test/run-all.sh']);
  });

  it('the test command needs no sudo (Debian does not install it): run-all.sh and what it runs first never call it', () => {
    for (const f of ['test/run-all.sh', 'test/system-deps.sh', 'test/e2e/vm/install-deps.sh']) {
      const code = read(f).split('\n').filter((l) => !l.trim().startsWith('#'));
      expect(code.filter((l) => /\bsudo\b/.test(l)), f).toEqual([]);
    }
  });
});

describe('docs/reference.md', () => {
  const ref = read('docs/reference.md');

  it('documents every error code the plugin can return, with the same text, and no other', () => {
    for (const [code, text] of ERROR_TABLE) {
      expect(ref).toContain(`| ${code} | ${text} |`);
    }
    const section = ref.slice(ref.indexOf('## Error codes'), ref.indexOf('\n## ', ref.indexOf('## Error codes') + 1));
    const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(ERROR_TABLE.map(([code]) => code));
  });

  it('documents every netconf field the schema accepts', async () => {
    const { netConfSchema } = await import('../../src/config/netconf.js');
    const internal = new Set(['cniVersion', 'name', 'type', 'runtimeConfig', 'args', 'prevResult', 'dns', 'cni.dev/valid-attachments', 'cni.dev/attachments']);
    for (const key of Object.keys(netConfSchema.def.shape)) {
      if (internal.has(key)) continue;
      expect(ref, `docs/reference.md lacks field ${key}`).toMatch(new RegExp(`\`${key}\``));
    }
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes; repeats get -1, -2. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutCode(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = (m[1] ?? '').trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function withoutCode(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, (c) => (c.includes('](') ? '' : c));
}

describe('links between README.md and docs/', () => {
  const files = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

  it.each(files)('every relative link in %s reaches a file, and its #section a heading there', (file) => {
    const broken: string[] = [];
    for (const m of withoutCode(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1] ?? '';
      if (/^[a-z]+:/.test(link)) continue;
      const [path = '', hash] = link.split('#');
      const target = path ? join(dirname(file), path) : file;
      if (!existsSync(join(REPO, target))) {
        broken.push(`${link} (no ${target})`);
        continue;
      }
      if (hash !== undefined && target.endsWith('.md') && !anchors(read(target)).has(hash)) broken.push(`${link} (no such heading in ${target})`);
    }
    expect(broken).toEqual([]);
  });
});

describe('README: the node file it shows', () => {
  it('is docs/node-files/sriov-vf-dpdk.json, byte for byte (the file tools-apply applies on a simulated node)', () => {
    const shown = /```json\n([\s\S]*?)```/.exec(read('README.md'))?.[1];
    expect(shown).toBe(read('docs/node-files/sriov-vf-dpdk.json'));
  });

  it('names the reaper command the DaemonSet runs', () => {
    const ds = read('install-daemonset.yaml');
    expect(ds).toContain('command: ["/usr/bin/dpdk-cni", "reap", "--every", "60"');
    expect(read('README.md')).toContain('`dpdk-cni reap --every 60`');
  });
});
