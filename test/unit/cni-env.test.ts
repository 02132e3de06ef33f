import { describe, expect, it } from 'vitest';
import { parseCommand, parseEnv, type Command } from '../../src/cni/env.js';
import { validateIfName } from '../../src/config/names.js';
import { CniError } from '../../src/cni/errors.js';
import { expectCniError } from '../helpers/errors.js';

const FULL = { CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/run/netns/pod', CNI_IFNAME: 'net1', CNI_PATH: '/opt/cni/bin' };

const envError = expectCniError;

function without(...keys: string[]): Record<string, string> {
  const e: Record<string, string> = { ...FULL };
  for (const k of keys) delete e[k];
  return e;
}

describe('parseCommand', () => {
  it.each(['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'])('accepts %s', (c) => {
    expect(parseCommand(c)).toBe(c);
  });
  it.each([undefined, ''])('a missing CNI_COMMAND (%j) is code 4 naming it', (c) => {
    const e = envError(() => parseCommand(c));
    expect([e.code, e.message]).toEqual([4, 'required env variables [CNI_COMMAND] missing']);
  });
  it.each(['add', 'FOO', 'ADD '])('an unknown CNI_COMMAND %j is code 4 quoting it and listing the valid ones', (c) => {
    const e = envError(() => parseCommand(c));
    expect(e.code).toBe(4);
    expect(e.message).toBe(`unknown CNI_COMMAND ${JSON.stringify(c)} (expected one of ADD, DEL, CHECK, STATUS, GC, VERSION)`);
  });
});

describe('parseEnv: required variables per command (as the reference skel)', () => {
  it.each<[Command, string[]]>([
    ['ADD', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['CHECK', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['DEL', ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH']],
    ['STATUS', ['CNI_PATH']],
    ['GC', ['CNI_PATH']],
  ])('%s with nothing set names exactly %j', (cmd, missing) => {
    const e = envError(() => parseEnv(cmd, {}));
    expect([e.code, e.message]).toEqual([4, `required env variables [${missing.join(',')}] missing`]);
  });

  it.each(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'])('ADD without %s names only that one', (k) => {
    const e = envError(() => parseEnv('ADD', without(k)));
    expect(e.message).toBe(`required env variables [${k}] missing`);
  });

  it('an empty variable counts as missing', () => {
    expect(envError(() => parseEnv('ADD', { ...FULL, CNI_IFNAME: '' })).message).toBe('required env variables [CNI_IFNAME] missing');
  });

  it('DEL does not need CNI_NETNS (the netns may already be gone)', () => {
    expect(parseEnv('DEL', without('CNI_NETNS'))).toMatchObject({ command: 'DEL', netns: '', containerId: 'c0ffee', ifName: 'net1' });
  });

  it('STATUS and GC need only CNI_PATH, and do not validate container ID or ifname', () => {
    expect(parseEnv('STATUS', { CNI_PATH: '/opt/cni/bin' }).path).toEqual(['/opt/cni/bin']);
    expect(parseEnv('GC', { CNI_PATH: '/opt/cni/bin', CNI_CONTAINERID: 'bad/id', CNI_IFNAME: '..' }).path).toEqual(['/opt/cni/bin']);
  });

  it("VERSION validates nothing (podman's dummy values, empty container ID)", () => {
    const a = parseEnv('VERSION', { CNI_NETNS: 'dummy', CNI_PATH: 'dummy', CNI_IFNAME: 'dummy', CNI_CONTAINERID: '', CNI_ARGS: 'garbage' });
    expect(a).toMatchObject({ command: 'VERSION', netns: '', ifName: '', path: [] });
  });
});

describe('parseEnv: values', () => {
  it.each(['a/b', '-leading-dash', '.dot', 'has space', 'semi;colon', 'ünïcode'])('container ID %j is code 4 naming CNI_CONTAINERID and the value', (id) => {
    for (const cmd of ['ADD', 'DEL', 'CHECK'] as const) {
      const e = envError(() => parseEnv(cmd, { ...FULL, CNI_CONTAINERID: id }));
      expect(e.code).toBe(4);
      expect(e.message).toBe(`CNI_CONTAINERID ${JSON.stringify(id)} is invalid: it must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`);
    }
  });

  it('a 64-hex container ID (podman, CRI-O) and one with _ . - are fine', () => {
    const id = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
    expect(parseEnv('ADD', { ...FULL, CNI_CONTAINERID: id }).containerId).toBe(id);
    expect(parseEnv('ADD', { ...FULL, CNI_CONTAINERID: 'a_b.c-d' }).containerId).toBe('a_b.c-d');
  });

  it('CNI_NETNS must be an absolute path (code 4 quoting it)', () => {
    const e = envError(() => parseEnv('ADD', { ...FULL, CNI_NETNS: 'dummy' }));
    expect([e.code, e.message]).toEqual([4, 'CNI_NETNS "dummy" must be an absolute path']);
  });

  it("CNI_PATH: Multus' duplicated entries are collapsed, relative entries dropped, order kept", () => {
    expect(parseEnv('ADD', { ...FULL, CNI_PATH: '/opt/cni/bin:/opt/cni/bin:relative:/usr/lib/cni:' }).path).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
  });

  it('CNI_ARGS is parsed (and its errors are code 4)', () => {
    expect(parseEnv('ADD', { ...FULL, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p;X=1' }).args).toMatchObject({ podName: 'p', other: { X: '1' } });
    expect(envError(() => parseEnv('CHECK', { ...FULL, CNI_ARGS: 'X=1' })).code).toBe(4);
  });

  it('DEL and GC parse CNI_ARGS leniently: what ADD would refuse is listed, not thrown', () => {
    expect(parseEnv('DEL', { ...FULL, CNI_ARGS: 'K8S_POD_NAME=p;X=1;junk' }).args).toMatchObject({
      podName: 'p', other: { X: '1' }, ignored: ['CNI_ARGS: invalid pair "junk": expected KEY=VALUE', 'CNI_ARGS: unknown key(s) X (set IgnoreUnknown=1 to allow them)'],
    });
    expect(parseEnv('GC', { CNI_PATH: '/opt/cni/bin', CNI_ARGS: 'X=1' }).args.ignored).toHaveLength(1);
  });
});

describe('validateIfName (CNI_IFNAME rules)', () => {
  it.each([
    ['', 'is empty'],
    ['abcdefghijklmnop', 'is longer than 15 bytes'],
    ['ääääääää', 'is longer than 15 bytes'], // 8 characters, 16 bytes
    ['.', 'must not be "."'],
    ['..', 'must not be ".."'],
    ['a/b', 'must not contain "/", ":" or whitespace'],
    ['a:b', 'must not contain "/", ":" or whitespace'],
    ['a b', 'must not contain "/", ":" or whitespace'],
    ['a\tb', 'must not contain "/", ":" or whitespace'],
    ['net1\n', 'must not contain "/", ":" or whitespace'],
  ])('%j %s', (name, why) => {
    expect(validateIfName(name)).toBe(why);
  });
  it.each(['net1', 'eth0', 'abcdefghijklmno', 'a.b', 'vf-0_1', 'ääääääa'])('%j is accepted', (name) => {
    expect(validateIfName(name)).toBeUndefined();
  });
  it.each(['ADD', 'DEL', 'CHECK'] as const)('%s refuses a bad CNI_IFNAME with code 4 naming it', (cmd) => {
    const e = envError(() => parseEnv(cmd, { ...FULL, CNI_IFNAME: 'a:b' }));
    expect([e.code, e.message]).toEqual([4, 'CNI_IFNAME "a:b" must not contain "/", ":" or whitespace']);
  });
});
