import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO } from '../helpers/cni.js';
import { busyboxRootfs } from './podman.js';

/** The sandbox ("pause") image the test builds: busybox-static sleeping, imported with ctr. */
export const SANDBOX_IMAGE = 'docker.io/dpdkcni/pause:test';

const PATH = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Debian's containerd (1.6) with its CRI plugin, the runtime kubelet drives, kept in one scratch
 * directory: the config is `containerd config default` with root, state, the gRPC socket, the
 * opt dir, runc's state root, the CNI bin_dir/conf_dir and sandbox_image pointed into it, and pod
 * netns mounts under its own state dir (netns_mounts_under_state_dir), so it runs beside a system
 * containerd without touching it. Outside the directory remain only what 1.6 does not let a
 * config move: the shims' sockets (/run/containerd/s/<hash of this socket and the pod>) and
 * libcni's result cache (/var/lib/cni/results/<network>-<pod>-eth0, removed by each DEL). The
 * sandbox image is built here from busybox-static (no registry).
 *
 * CRI reads the CNI configuration at start (max_conf_num 1: the first file of conf_dir), so a
 * test writes its conflist and then (re)starts containerd. CRI calls the plugins with its own
 * environment plus CNI_*; the plugin dir's `dpdk-cni` wrapper pins DPDK_CNI_ROOT (see
 * test/callers/driver.ts pluginDir).
 */
export class Containerd {
  readonly conf: string;
  readonly sock: string;
  readonly netDir: string;
  readonly state: string;
  readonly log: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private client: any;

  constructor(readonly dir: string, readonly pluginDir: string) {
    this.conf = join(dir, 'config.toml');
    this.sock = join(dir, 'containerd.sock');
    this.netDir = join(dir, 'net.d');
    this.state = join(dir, 'state');
    this.log = join(dir, 'containerd.log');
    for (const d of ['root', 'state', 'opt', 'net.d', 'runc']) mkdirSync(join(dir, d), { recursive: true });
    const def = spawnSync('containerd', ['config', 'default'], { encoding: 'utf8' });
    if (def.status !== 0) throw new Error(`containerd config default failed (apt-get install containerd): ${def.stderr}`);
    const set = (text: string, re: RegExp, value: string) => {
      if (!re.test(text)) throw new Error(`containerd config default has no ${re}`);
      return text.replace(re, (_m, key: string) => `${key}${JSON.stringify(value)}`);
    };
    let c = def.stdout;
    c = set(c, /^(root = ).*$/m, join(dir, 'root'));
    c = set(c, /^(state = ).*$/m, this.state);
    c = set(c, /^(\[grpc\]\n\s+address = ).*$/m, this.sock);
    c = set(c, /^(\s+path = )"\/opt\/containerd"$/m, join(dir, 'opt'));
    c = set(c, /^(\s+bin_dir = ).*$/m, pluginDir);
    c = set(c, /^(\s+conf_dir = ).*$/m, this.netDir);
    c = set(c, /^(\s+sandbox_image = ).*$/m, SANDBOX_IMAGE);
    c = set(c, /^(\s+\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\][^[]*?\n\s+Root = ).*$/m, join(dir, 'runc'));
    c = c.replace(/^(\s+netns_mounts_under_state_dir = )false$/m, '$1true');
    // a negative oom_score_adj (CRI's -998 for sandboxes) is refused in unprivileged sandboxes such as CI's
    c = c.replace(/^(\s+restrict_oom_score_adj = )false$/m, '$1true');
    writeFileSync(this.conf, c);
  }

  /** The network CRI uses: the only conflist in conf_dir (read at the next start). */
  network(conflist: Record<string, unknown>): void {
    for (const f of readdirSync(this.netDir)) spawnSync('rm', ['-f', join(this.netDir, f)]);
    writeFileSync(join(this.netDir, '10-test.conflist'), JSON.stringify(conflist, null, 2));
  }

  /** Start containerd and wait until its CRI service answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.proc) throw new Error('containerd is already running');
    const out = openSync(this.log, 'a');
    const p = spawn('containerd', ['--config', this.conf], { stdio: ['ignore', out, out], env: { PATH } });
    closeSync(out);
    this.proc = p;
    this.exited = new Promise((res) => p.once('exit', () => res()));
    let gone = false;
    void this.exited.then(() => (gone = true));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (gone) throw new Error(`containerd exited at start:\n${this.logTail()}`);
      if (existsSync(this.sock)) {
        try {
          const v = await this.call('Version', {}, 5_000);
          if (v.runtime_name) return;
        } catch {
          /* not ready yet */
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not answer on ${this.sock}:\n${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stop containerd (SIGTERM, SIGKILL after 20 s); the sandboxes' shims keep running, as in production. */
  async stop(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(t);
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Build the busybox sandbox image (a docker-archive tarball) and import it into k8s.io. */
  importSandboxImage(): void {
    const work = join(this.dir, 'image');
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    busyboxRootfs(rootfs);
    const must = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', env: { PATH } });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.error ?? ''}`);
    };
    const arc = join(work, 'archive');
    mkdirSync(arc, { recursive: true });
    must('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', join(arc, 'layer.tar'), '.']);
    const diff = createHash('sha256').update(readFileSync(join(arc, 'layer.tar'))).digest('hex');
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/bin/sleep'], Cmd: ['2147483647'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diff}`] },
    });
    const cfgName = `${createHash('sha256').update(config).digest('hex')}.json`;
    writeFileSync(join(arc, cfgName), config);
    writeFileSync(join(arc, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: [SANDBOX_IMAGE], Layers: ['layer.tar'] }]));
    must('tar', ['-C', arc, '-cf', join(work, 'image.tar'), 'manifest.json', cfgName, 'layer.tar']);
    must('ctr', ['--address', this.sock, '-n', 'k8s.io', 'images', 'import', join(work, 'image.tar')]);
  }

  /** A CRI RuntimeService call (method names as in the proto; fields snake_case). */
  call(method: string, req: Record<string, unknown>, timeoutMs = 120_000): Promise<any> {
    if (!this.client) {
      const def = protoLoader.loadSync(join(REPO, 'test/callers/cri/api.proto'), { keepCase: true, longs: String, enums: String, defaults: true });
      const pkg = grpc.loadPackageDefinition(def) as any;
      this.client = new pkg.runtime.v1.RuntimeService(`unix://${this.sock}`, grpc.credentials.createInsecure());
    }
    const client = this.client;
    return new Promise((res, rej) => {
      client[method](req, { deadline: Date.now() + timeoutMs }, (err: Error | null, out: any) => (err ? rej(err) : res(out)));
    });
  }

  /** RunPodSandbox for a pod; resolves to the sandbox ID (= CNI_CONTAINERID). */
  async runPod(name: string, namespace = 'default'): Promise<string> {
    const r = await this.call('RunPodSandbox', {
      config: {
        metadata: { name, namespace, uid: createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 32), attempt: 0 },
        hostname: name,
        log_directory: join(this.dir, 'pods', name),
        linux: { cgroup_parent: '', security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
      },
    });
    return r.pod_sandbox_id;
  }

  /** PodSandboxStatus, verbose: the pod IP, state, and from containerd's info the netns path and CNI result. */
  async status(id: string): Promise<{ state: string; ip: string; netns: string; pid: number; cniResult: any }> {
    const r = await this.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    const info = JSON.parse(r.info?.info ?? '{}');
    const ns = (info.runtimeSpec?.linux?.namespaces ?? []).find((n: any) => n.type === 'network');
    return { state: r.status.state, ip: r.status.network?.ip ?? '', netns: ns?.path ?? '', pid: info.pid ?? 0, cniResult: info.cniResult };
  }

  async stopPod(id: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: id });
  }

  async removePod(id: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: id });
  }

  /**
   * After a test: containerd stopped, then every shim of this containerd (found by its socket in
   * the command line) and what it runs killed, and the mounts under the scratch dir undone, so the
   * directory can be removed even when a test failed half-way.
   */
  async cleanup(): Promise<void> {
    await this.stop();
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmd.startsWith('containerd-shim') || cmd.includes('/containerd-shim')) {
        if (cmd.split('\0').includes(this.sock)) {
          for (const child of childrenOf(Number(pid))) killPid(child);
          killPid(Number(pid));
        }
      }
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${this.dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.log, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

/**
 * What Multus adds to a delegate's netconf that containerd alone does not send:
 * runtimeConfig.CNIDeviceInfoFile, under the name Multus generates
 * (`<devinfo>/cni/<namespace>-<network>-<containerID>_<ifname>`). Written into the CNI bin dir
 * as the plugin `name`, it execs dpdk-cni (with DPDK_CNI_ROOT) on the amended netconf, so a
 * DPDK-mode pod run by containerd gets its device-info file as under Multus.
 */
export function multusDevinfoPlugin(binDir: string, name: string, bin: string, root: string): void {
  const script = `#!${process.execPath}
'use strict';
const { spawnSync } = require('node:child_process');
const conf = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const env = process.env;
if (['ADD', 'DEL', 'CHECK'].includes(env.CNI_COMMAND)) {
  const args = Object.fromEntries((env.CNI_ARGS || '').split(';').map((kv) => kv.split('=')));
  const file = '/var/run/k8s.cni.cncf.io/devinfo/cni/' + args.K8S_POD_NAMESPACE + '-' + conf.name + '-' + env.CNI_CONTAINERID + '_' + env.CNI_IFNAME;
  conf.runtimeConfig = { ...conf.runtimeConfig, CNIDeviceInfoFile: file };
}
const r = spawnSync(${JSON.stringify(bin)}, [], { input: JSON.stringify(conf), stdio: ['pipe', 'inherit', 'inherit'], env: { ...env, DPDK_CNI_ROOT: ${JSON.stringify(root)} } });
process.exit(r.status === null ? 1 : r.status);
`;
  writeFileSync(join(binDir, name), script, { mode: 0o755 });
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(p), ...childrenOf(Number(p)));
    } catch {
      /* exited */
    }
  }
  return out;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
