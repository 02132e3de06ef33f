import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, REPO, sh, tempDir } from '../helpers/cni.js';
import { ensureShipped, SHIPPED } from '../helpers/shipped.js';

/**
 * build/image.sh builds the container image offline (buildah, base made of the host's glibc) from
 * the Containerfile and saves an OCI archive. The archive is unpacked here and its root filesystem
 * run with chroot: the image alone must be enough to run the plugin and the installer.
 */
const ARCHIVE = join(REPO, 'dist/dpdk-cni-image-linux-x64.tar');
const VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe.runIf(isRoot)('container image (build/image.sh, root)', () => {
  let dir: { path: string; cleanup: () => void };
  let rootfs: string;
  let config: any;
  let index: any;

  beforeAll(() => {
    expect(sh('sh', ['-c', 'command -v buildah']).code, 'buildah is needed: apt-get install buildah').toBe(0);
    ensureShipped();
    const b = spawnSync('bash', [join(REPO, 'build/image.sh')], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/dpdk-cni-image-linux-x64\.tar/);
    dir = tempDir('dpdk-cni-oci-');
    const oci = join(dir.path, 'oci');
    rootfs = join(dir.path, 'rootfs');
    mkdirSync(oci);
    mkdirSync(rootfs);
    expect(sh('tar', ['-xf', ARCHIVE, '-C', oci]).code).toBe(0);
    index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8'));
    const blob = (digest: string) => join(oci, 'blobs', ...digest.split(':'));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
    config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
    for (const l of manifest.layers) {
      const r = sh('tar', [/gzip/.test(l.mediaType) ? '-xzf' : '-xf', blob(l.digest), '-C', rootfs]);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 300_000);
  afterAll(() => dir?.cleanup());

  it('is an OCI archive tagged with the version, whose entrypoint is the installer', () => {
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe(`dpdk-cni:${VERSION}`);
    expect([config.os, config.architecture]).toEqual(['linux', 'amd64']);
    expect(config.config.Entrypoint).toEqual(['/usr/bin/dpdk-cni']);
    expect(config.config.Cmd).toEqual(['install', '--sleep']);
  });

  it('holds the single executable, byte for byte, and no Node.js, Bun CLI, shell or package manager', () => {
    const exe = join(rootfs, 'usr/bin/dpdk-cni');
    expect(sha(exe)).toBe(sha(SHIPPED));
    expect(statSync(exe).mode & 0o777).toBe(0o755);
    const files = sh('find', [rootfs, '-type', 'f']).stdout.trim().split('\n').map((f) => f.slice(rootfs.length));
    expect(files.filter((f) => /\/(node|bun|sh|bash|busybox|apt|dpkg|npm)$/.test(f))).toEqual([]);
    expect(files).toContain('/usr/bin/dpdk-cni');
    expect(files).toContain('/usr/sbin/ip'); // the reaper's (install-daemonset.yaml)
    // with every library it links: it runs from the image's root alone
    const ip = spawnSync('chroot', [rootfs, '/usr/sbin/ip', '-V'], { encoding: 'utf8' });
    expect(ip.status, ip.stderr).toBe(0);
    expect(ip.stdout).toMatch(/^ip utility, iproute2-/);
  });

  it('runs from its own root filesystem: VERSION, and the installer into a "host" directory', () => {
    // as a container runtime starts it: its own /proc (the Bun runtime finds its code through
    // /proc/self/exe and aborts without it), mounted in a private mount + pid namespace
    mkdirSync(join(rootfs, 'proc'), { recursive: true });
    const chroot = (args: string[], env: Record<string, string> = {}, input = '') =>
      spawnSync('/usr/bin/unshare', ['--mount', '--pid', '--fork', `--mount-proc=${join(rootfs, 'proc')}`, '/usr/sbin/chroot', rootfs, ...args], {
        env: { NODE_OPTIONS: '--require /nonexistent.js', BUN_OPTIONS: '--print 1+1', ...env }, input, encoding: 'utf8',
      });
    const v = chroot(['/usr/bin/dpdk-cni'], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect([v.status, v.stderr]).toEqual([0, '']);
    expect(JSON.parse(v.stdout).cniVersion).toBe('1.0.0');
    mkdirSync(join(rootfs, 'host/opt/cni/bin'), { recursive: true });
    const i = chroot(['/usr/bin/dpdk-cni', 'install', '--target', '/host/opt/cni/bin']);
    expect(i.status, i.stderr).toBe(0);
    expect(i.stdout).toMatch(/installed \/host\/opt\/cni\/bin\/dpdk-cni/);
    expect(sha(join(rootfs, 'host/opt/cni/bin/dpdk-cni'))).toBe(sha(SHIPPED));
    const check = chroot(['/usr/bin/dpdk-cni', 'install', '--check', '--target', '/host/opt/cni/bin']);
    expect(check.status).toBe(0); // the DaemonSet's readiness probe
  });
});
