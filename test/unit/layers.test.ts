/**
 * The layers of src/ run one way (docs/ARCHITECTURE.md). Reads every import (static, `import type`,
 * `export ... from` and dynamic `import('...')`) of src/**\/*.ts and checks the rules below. When a
 * folder is added or renamed, give it a row in ALLOWED; an unknown folder fails the first test
 * until it has one.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cni.js';

const SRC = join(REPO, 'src');

/**
 * Folder -> the folders its files may import from (its own folder is always allowed). `.` is a
 * file directly in src/ (main.ts, entry.ts, fatal.ts).
 */
const DOMAIN = ['sys', 'cni', 'config', 'device', 'deviceinfo', 'ipam', 'log', 'net', 'state'];
const ALLOWED: Record<string, readonly string[]> = {
  sys: [],
  cni: ['sys', 'config', 'ipam', 'log'],
  config: ['sys', 'cni', 'device', 'deviceinfo'],
  device: ['sys', 'cni'],
  deviceinfo: ['sys', 'cni', 'config', 'device', 'log', 'state'],
  ipam: ['sys', 'cni', 'config'],
  log: ['sys', 'cni', 'config'],
  net: ['sys', 'cni', 'log', 'device'],
  state: ['sys', 'cni', 'config', 'device', 'deviceinfo', 'log', 'net'],
  verbs: [...DOMAIN],
  tools: [...DOMAIN, 'verbs', 'sea'],
  // single-executable glue of the Node SEA kept for measurement: the CLI asset loads the CLI
  sea: ['sys', 'tools'],
  // the simulated node (tests, demo, bench): builds sysfs trees, uses nothing of the plugin
  sim: [],
  '.': [...DOMAIN, 'verbs', 'tools', 'sea'],
};

/** Files that must not import these folders or files (prefix match on the path below src/). */
const FORBIDDEN: Record<string, readonly string[]> = {
  // the protocol takes its collaborators as parameters (main.ts wires them)
  'cni/skel.ts': ['verbs/', 'state/', 'log/logger.ts', 'log/open.ts', 'log/exec-log.ts'],
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

/** src-relative file -> the src-relative files it imports. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const abs of walk(SRC)) {
    const file = posix.relative(SRC, abs);
    const text = readFileSync(abs, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec?.startsWith('.')) continue;
      deps.push(posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
    }
    g.set(file, deps);
  }
  return g;
}

const folderOf = (f: string): string => (f.includes('/') ? f.slice(0, f.indexOf('/')) : '.');

function cycles(g: Map<string, string[]>): string[][] {
  const out: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of g.get(f) ?? []) {
      if (state.get(d) === 'open') out.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d) && g.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...g.keys()].sort()) if (!state.has(f)) visit(f);
  return out;
}

describe('layers of src/', () => {
  const g = graph();

  it('every folder of src/ has a row in the table', () => {
    const unknown = [...new Set([...g.keys()].map(folderOf))].filter((f) => !(f in ALLOWED));
    expect(unknown).toEqual([]);
  });

  it('no file imports a folder its layer may not use (sys/ imports nothing else from src/)', () => {
    const bad: string[] = [];
    for (const [f, deps] of g) {
      const from = folderOf(f);
      for (const d of deps) {
        const to = folderOf(d);
        if (to !== from && !(ALLOWED[from] ?? []).includes(to)) bad.push(`${f} -> ${d}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('cni/skel.ts imports no verb, no state store, no logger implementation, and builds no Host', () => {
    const bad: string[] = [];
    for (const [f, rules] of Object.entries(FORBIDDEN)) {
      for (const d of g.get(f) ?? []) if (rules.some((r) => d.startsWith(r))) bad.push(`${f} -> ${d}`);
    }
    expect(g.has('cni/skel.ts')).toBe(true);
    expect(bad).toEqual([]);
    // runCni takes a host factory (Collaborators.host): it never calls makeHost itself
    expect(readFileSync(join(SRC, 'cni/skel.ts'), 'utf8')).not.toMatch(/\bmakeHost\b/);
  });

  it('no import cycle (type imports included)', () => {
    expect(cycles(g).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('the OS is reached only through sys/ (the Host seam): no other file imports fs or child_process', () => {
    // sim/ builds simulated sysfs trees; cni/stdin.ts is the stdin collaborator main.ts hands to runCni
    const allowed = (f: string) => f.startsWith('sys/') || f.startsWith('sim/') || f === 'cni/stdin.ts';
    const bad: string[] = [];
    for (const abs of walk(SRC)) {
      const file = posix.relative(SRC, abs);
      if (allowed(file)) continue;
      for (const m of readFileSync(abs, 'utf8').matchAll(IMPORT_RE)) {
        const spec = m[1] ?? m[2] ?? m[3] ?? '';
        if (/^(node:)?(fs|fs\/promises|child_process)$/.test(spec)) bad.push(`${file} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the import reader sees static, type, re-export and dynamic imports', () => {
    expect(g.get('main.ts')).toContain('cni/skel.ts');
    expect(g.get('verbs/index.ts')).toContain('verbs/add.ts');
    expect(g.get('cni/skel.ts')).toContain('cni/errors.ts');
  });
});
