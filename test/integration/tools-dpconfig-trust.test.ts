import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/cni.js';
import { awsNode, tool } from './tools-helpers.js';

/**
 * `dpdk-cni dp-config --write FILE`: it writes a device plugin config, or a new file, and nothing
 * else — an existing file that is not a device plugin config, a symlink or a directory is refused
 * and left as it was; the output says what the write replaced; concurrent writers all succeed.
 */
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-dpw-');
});
afterEach(() => dir.cleanup());

const RES = ['dp-config', '-r', 'aws.amazon.com/ena=vendor:1d0f,driver:vfio-pci'];
const OLD = JSON.stringify({ resourceList: [{ resourcePrefix: 'x.io', resourceName: 'old', selectors: [{ drivers: ['vfio-pci'] }] }] });

function files(d: string): string[] {
  return readdirSync(d).sort();
}

describe('dp-config --write only replaces a device plugin config', () => {
  it('refuses to replace a file that is not a device plugin config (/etc/passwd stays as it was)', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc'), { recursive: true });
    const passwd = 'root:x:0:0:root:/root:/bin/bash\n';
    writeFileSync(join(n.root, 'etc/passwd'), passwd);
    const r = tool([...RES, '--write', '/etc/passwd'], n.root);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${n.root}/etc/passwd exists and is not a device plugin config (not JSON); not replacing it`);
    expect(r.stderr).not.toContain('root:x'); // the reason, not the content
    expect(readFileSync(join(n.root, 'etc/passwd'), 'utf8')).toBe(passwd);
    expect(files(join(n.root, 'etc'))).toEqual(['passwd']);
    // JSON that is not a device plugin config is refused too
    writeFileSync(join(n.root, 'etc/other.json'), '{"apiVersion":"v1"}');
    expect(tool([...RES, '--write', '/etc/other.json'], n.root).code).toBe(2);
    expect(readFileSync(join(n.root, 'etc/other.json'), 'utf8')).toBe('{"apiVersion":"v1"}');
  });

  it('refuses a symlinked config.json (does not turn it into a regular file, does not write through it) and says so', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp'), { recursive: true });
    writeFileSync(join(n.root, 'etc/pcidp/real.json'), OLD);
    symlinkSync('real.json', join(n.root, 'etc/pcidp/config.json'));
    const r = tool([...RES, '--write'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${n.root}/etc/pcidp/config.json is a symbolic link (to real.json)`);
    expect(r.stdout).not.toContain('wrote');
    expect(lstatSync(join(n.root, 'etc/pcidp/config.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(n.root, 'etc/pcidp/config.json'))).toBe('real.json');
    expect(readFileSync(join(n.root, 'etc/pcidp/real.json'), 'utf8')).toBe(OLD);
    expect(files(join(n.root, 'etc/pcidp'))).toEqual(['config.json', 'real.json']);
  });

  it('refuses a directory at the path', () => {
    const n = awsNode(dir.path);
    mkdirSync(join(n.root, 'etc/pcidp/config.json'), { recursive: true });
    const r = tool([...RES, '--write'], n.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config.json is a directory');
  });

  it('says what it wrote: a new file, or the device plugin config it replaced', () => {
    const n = awsNode(dir.path);
    const first = tool([...RES, '--write'], n.root);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`wrote ${n.root}/etc/pcidp/config.json: a new file`);
    writeFileSync(join(n.root, 'etc/pcidp/config.json'), OLD);
    const again = tool([...RES, '--write'], n.root);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`wrote ${n.root}/etc/pcidp/config.json: replaced the device plugin config that was there (1 resource(s): x.io/old)`);
    expect(JSON.parse(readFileSync(join(n.root, 'etc/pcidp/config.json'), 'utf8')).resourceList[0].resourceName).toBe('ena');
  });
});

describe('dp-config --write from several processes at once', () => {
  it('8 concurrent writers of one file all succeed, the file is complete, no temp file is left', async () => {
    const n = awsNode(dir.path);
    const expected = tool(RES, n.root).stdout;
    for (let round = 0; round < 2; round++) {
      const runs = await Promise.all(
        Array.from({ length: 8 }, () =>
          new Promise<{ code: number | null; stderr: string }>((res) => {
            const p = spawn(BIN, [...RES, '--write'], { env: { PATH: process.env.PATH, DPDK_CNI_ROOT: n.root } });
            let stderr = '';
            p.stderr.on('data', (d) => (stderr += d));
            p.stdout.resume();
            p.on('close', (code) => res({ code, stderr }));
          }),
        ),
      );
      expect(runs.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
      expect(readFileSync(join(n.root, 'etc/pcidp/config.json'), 'utf8')).toBe(expected);
      expect(files(join(n.root, 'etc/pcidp'))).toEqual(['config.json']);
    }
  });
});
