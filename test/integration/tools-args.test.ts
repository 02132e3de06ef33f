import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceLockName } from '../../src/sys/lock.js';
import { BIN, tempDir } from '../helpers/cni.js';
import { awsNode, ENA_KERNEL, ENA_VFIO, read, tool } from './tools-helpers.js';

/**
 * The node tools' command line, given hostile or misspelled arguments: a rejected argument stops
 * the command before it does anything (exit 2, one message on stderr, nothing on the simulated
 * node changed), a repeated or malformed option is refused instead of crashing or defaulting, a
 * busy device lock is reported as "try again", and the messages name what to do.
 */
let dir: { path: string; cleanup: () => void };
let holders: Server[] = [];
beforeEach(() => {
  dir = tempDir('dpdk-cni-args-');
  holders = [];
});
afterEach(async () => {
  for (const h of holders) await new Promise((r) => h.close(r));
  dir.cleanup();
});

const unbindAttr = 'sys/bus/pci/drivers/vfio-pci/unbind';
const enaUnbind = 'sys/bus/pci/drivers/ena/unbind';
const override = (pci: string) => `sys/bus/pci/devices/${pci}/driver_override`;
const known = (pci: string) => `var/lib/cni/dpdk-cni/known/${pci}.json`;

/** The simulated node's sysfs writes and records: what a tool that acted would have changed. */
function untouched(root: string): void {
  expect(read(root, unbindAttr)).toBe('');
  expect(read(root, enaUnbind)).toBe('');
  expect(read(root, 'sys/bus/pci/drivers_probe')).toBe('');
  expect(read(root, override(ENA_VFIO))).toBe('(null)\n');
  expect(read(root, override(ENA_KERNEL))).toBe('(null)\n');
  expect(read(root, known(ENA_KERNEL))).toBeUndefined();
}

function rejected(r: { code: number; stdout: string; stderr: string }, message: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

async function holdLock(root: string, pci: string): Promise<void> {
  const s = createServer();
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.listen({ path: `\0${deviceLockName(root, pci)}` }, () => res());
  });
  holders.push(s);
}

describe('a rejected argument changes nothing', () => {
  it('unbind with a misspelled --dry-run is refused and unbinds nothing', () => {
    const n = awsNode(dir.path);
    const r = tool(['unbind', ENA_VFIO, '--dry-rn', '--timeout', '0.1'], n.root);
    rejected(r, /Unknown arguments?: dry-rn/);
    untouched(n.root);
  });

  it('bind with an unknown option is refused and binds nothing', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--froce', '--timeout', '0.1'], n.root);
    rejected(r, /Unknown arguments?: froce/);
    untouched(n.root);
  });

  it('dp-config --write with a stray --dry-run writes no file and exits 2', () => {
    const n = awsNode(dir.path);
    const r = tool(['dp-config', '-r', 'aws.amazon.com/ena=vendor:1d0f,driver:vfio-pci', '--write', '/etc/pcidp/config.json', '--dry-run'], n.root);
    rejected(r, /Unknown arguments?: dry-run/);
    expect(existsSync(join(n.root, 'etc/pcidp'))).toBe(false);
  });

  it('install --name ../x is refused and installs nothing anywhere', () => {
    const target = join(dir.path, 'bin');
    mkdirSync(target, { mode: 0o755 });
    const r = tool(['install', '--target', target, '--name', '../x']);
    rejected(r, /--name "\.\.\/x" must be a plain file name/);
    expect(readdirSync(dir.path)).toEqual(['bin']);
    expect(readdirSync(target)).toEqual([]);
  });

  it('install --check --sleep is refused without checking (no verdict on stdout)', () => {
    const target = join(dir.path, 'bin');
    mkdirSync(target, { mode: 0o755 });
    const r = tool(['install', '--target', target, '--check', '--sleep']);
    rejected(r, /--check and --sleep cannot be combined/);
  });
});

describe('malformed options are refused, not crashed on or replaced', () => {
  it('a repeated single-value option names the option (no internal type error) and changes nothing', () => {
    const n = awsNode(dir.path);
    rejected(tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--driver', 'igb_uio', '--timeout', '0.1'], n.root), /--driver given more than once/);
    rejected(tool(['bind', ENA_KERNEL, '-d', 'vfio-pci', '--driver', 'vfio-pci', '--timeout', '0.1'], n.root), /--driver given more than once/);
    untouched(n.root);
    const inst = join(dir.path, 'inst');
    const target = join(inst, 'bin');
    mkdirSync(target, { recursive: true, mode: 0o755 });
    const r = tool(['install', '--target', target, '--target', inst]);
    rejected(r, /--target given more than once/);
    expect(r.stderr).not.toMatch(/must be of type string/);
    expect(readdirSync(inst)).toEqual(['bin']);
    expect(readdirSync(target)).toEqual([]);
  });

  it('--timeout abc is refused instead of silently becoming 5 s', () => {
    const n = awsNode(dir.path);
    rejected(tool(['bind', ENA_KERNEL, '--driver', 'vfio-pci', '--timeout', 'abc'], n.root), /--timeout must be a number of seconds from 0 to 3600/);
    rejected(tool(['unbind', ENA_VFIO, '--timeout', '-1'], n.root), /--timeout must be a number of seconds from 0 to 3600/);
    // a typo such as 1e300 would hold the device lock for ever
    rejected(tool(['unbind', ENA_VFIO, '--timeout', '1e300'], n.root), /--timeout must be a number of seconds from 0 to 3600/);
    rejected(tool(['unbind', ENA_VFIO, '--timeout', '3601'], n.root), /--timeout must be a number of seconds from 0 to 3600/);
    untouched(n.root);
  });
});

describe('the device lock', () => {
  it('a busy lock: exit 2 with "try again", no CNI error JSON, no stack trace, nothing written', async () => {
    const n = awsNode(dir.path);
    await holdLock(n.root, ENA_VFIO);
    const r = tool(['unbind', ENA_VFIO, '--timeout', '0.1'], n.root, { DPDK_CNI_LOCK_TIMEOUT_MS: '300' });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/"code"/);
    expect(r.stderr).toMatch(new RegExp(`${ENA_VFIO}: failed: ${ENA_VFIO} is locked by another dpdk-cni operation .*run this again when it is done`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    untouched(n.root);
  });

  it('a dry run does not take the lock: it plans while a CNI operation holds the device', async () => {
    const n = awsNode(dir.path);
    await holdLock(n.root, ENA_VFIO);
    const t0 = Date.now();
    const r = tool(['unbind', ENA_VFIO, '--dry-run'], n.root, { DPDK_CNI_LOCK_TIMEOUT_MS: '5000' });
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(r.stdout).toMatch(/-> no driver \(dry run: nothing changed\)\n  would write "0000:00:06.0" to \/sys\/bus\/pci\/drivers\/vfio-pci\/unbind/);
    untouched(n.root);
  });
});

describe('messages that fit the case', () => {
  it('refusing a non-network device does not suggest flushing an interface', () => {
    const n = awsNode(dir.path);
    const r = tool(['bind', '0000:00:04.0', '--driver', 'vfio-pci', '--timeout', '0.1'], n.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('0000:00:04.0 is not a network device');
    expect(r.stderr).not.toContain('ip addr flush');
    expect(r.stderr).toContain('lspci -D -s 0000:00:04.0');
    expect(read(n.root, 'sys/bus/pci/drivers/nvme/unbind')).toBe('');
  });

  it('dp-config --check --config RELATIVE reads the file in the current directory, also on a simulated node', () => {
    const n = awsNode(dir.path);
    const cwd = join(dir.path, 'work');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'config.json'), JSON.stringify({ resourceList: [{ resourcePrefix: 'aws.amazon.com', resourceName: 'ena', selectors: [{ drivers: ['vfio-pci'] }] }] }));
    const r = spawnSync(BIN, ['dp-config', '--check', '--config', 'config.json'], { cwd, env: { PATH: process.env.PATH, DPDK_CNI_ROOT: n.root }, encoding: 'utf8' });
    expect(r.stdout).not.toContain('does not exist');
    expect(r.stdout).toContain(`aws.amazon.com/ena: 1 device(s): ${ENA_VFIO} (vfio-pci)`);
    expect(r.status).toBe(0);
  });
});

describe('install --target', () => {
  it('refuses a world-writable directory, as the plugin refuses such a CNI_PATH entry for IPAM', () => {
    const target = join(dir.path, 'open');
    mkdirSync(target);
    chmodSync(target, 0o777);
    const r = tool(['install', '--target', target]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`refusing to install into ${target}: ${target} is writable by everyone`);
    expect(readdirSync(target)).toEqual([]);
    chmodSync(target, 0o755);
    expect(tool(['install', '--target', target]).code).toBe(0);
    expect(readdirSync(target)).toEqual(['dpdk-cni']);
  });
});
