import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * podman 4.3 (Debian bookworm) with its CNI backend, kept entirely in one directory: a private
 * containers.conf (CNI backend, our plugin and network-config dirs), --root/--runroot/--tmpdir
 * of its own, runc with cgroupfs (crun fails on this kind of machine: rlimits, hybrid cgroups),
 * and a busybox-static root filesystem, so no image registry is needed.
 *
 * podman tears the network down from its cleanup process (`podman container cleanup`, started by
 * conmon) whose environment is scrubbed: the plugin directory therefore holds a wrapper that pins
 * DPDK_CNI_ROOT for a simulated node (see test/callers/driver.ts pluginDir).
 */
export class Podman {
  readonly conf: string;
  readonly netDir: string;
  readonly rootfs: string;

  constructor(readonly dir: string, readonly pluginDir: string) {
    this.netDir = join(dir, 'net.d');
    this.rootfs = join(dir, 'rootfs');
    this.conf = join(dir, 'containers.conf');
    for (const d of ['net.d', 'root', 'runroot', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(
      this.conf,
      [
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${pluginDir}"]`,
        `network_config_dir = "${this.netDir}"`,
        '',
        '[engine]',
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        '',
      ].join('\n'),
    );
    busyboxRootfs(this.rootfs);
  }

  network(name: string, conflist: Record<string, unknown>): void {
    writeFileSync(join(this.netDir, `${name}.conflist`), JSON.stringify({ name, ...conflist }, null, 2));
  }

  podman(args: string[], timeoutMs = 120_000): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(
      'podman',
      [
        '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), '--tmpdir', join(this.dir, 'tmp'),
        '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
        ...args,
      ],
      {
        encoding: 'utf8',
        timeout: timeoutMs,
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: this.dir, CONTAINERS_CONF: this.conf },
      },
    );
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  }

  /**
   * `podman run` on a network with the busybox rootfs (`--rm` unless `extra` says -d); the
   * command's output comes back. runc cannot raise rlimits here, hence explicit --ulimit values.
   */
  run(network: string, cmd: string[], extra: string[] = ['--rm']) {
    return this.podman([
      'run', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096',
      '--network', network, ...extra, '--rootfs', this.rootfs, ...cmd,
    ]);
  }

  /** Remove every container of this private store (nothing is left running after a test). */
  cleanup(): void {
    this.podman(['rm', '--all', '--force', '--time', '0']);
  }
}

/** A root filesystem of busybox-static with every applet linked (podman runs it; containerd.ts makes its sandbox image of it). */
export function busyboxRootfs(dir: string): void {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!bb) throw new Error('busybox is missing: apt-get install busybox-static');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'run']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'bin/busybox'), readFileSync(bb), { mode: 0o755 });
  const applets = spawnSync(bb, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(dir, 'bin', a));
}
