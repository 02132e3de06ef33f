/**
 * An in-memory Host for the fast unit tier (test/unit/verbs-*.test.ts): a small tree of files,
 * directories and symlinks (enough for a sysfs device, the state directory and the device-info
 * directory), live network namespaces as a set of paths, and a scripted Exec / BoundedExec that
 * record every program run. The verbs run against it through runCni, with no process, no disk and
 * no kernel: a call takes milliseconds. Locks stay real (abstract sockets, scoped by the root).
 */
import { constants as O } from 'node:fs';
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BoundedExec, BoundedOptions, BoundedResult, Exec, ExecOptions, ExecResult } from '../../src/sys/exec.js';
import type { FileStat, Fs, NetnsState } from '../../src/sys/fs.js';
import type { Host } from '../../src/sys/host.js';
import type { Content } from '../../src/sys/replace-file.js';
import { runCni, type Collaborators, type Outcome } from '../../src/cni/skel.js';
import { handlers } from '../../src/verbs/index.js';
import { stderrLogger } from '../../src/log/logger.js';

type Node = { type: 'file'; data: string; mode: number; mtimeMs: number } | { type: 'dir'; mode: number } | { type: 'symlink'; target: string };

function err(code: string, what: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}, '${p}'`), { code });
}

export class MemFs implements Fs {
  readonly nodes = new Map<string, Node>([['/', { type: 'dir', mode: 0o755 }]]);
  readonly liveNetns = new Set<string>();
  /** a write (writeAtomic, write) to a path for which this returns true fails with EIO */
  failWrite: (p: string) => boolean = () => false;
  private readonly fds = new Map<number, { path: string; pos: number; append: boolean }>();
  private nextFd = 100;

  // --- building the tree -------------------------------------------------------------------
  dir(p: string): this {
    this.mkdirp(p, 0o755);
    return this;
  }
  file(p: string, data: string, mode = 0o644): this {
    this.mkdirp(posix.dirname(p), 0o755);
    this.nodes.set(p, { type: 'file', data, mode, mtimeMs: Date.now() });
    return this;
  }
  symlink(p: string, target: string): this {
    this.mkdirp(posix.dirname(p), 0o755);
    this.nodes.set(p, { type: 'symlink', target });
    return this;
  }
  /** every path below `dir` that is a file, with its content */
  files(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [p, n] of this.nodes) if (n.type === 'file' && p.startsWith(`${dir}/`)) out[p.slice(dir.length + 1)] = n.data;
    return out;
  }

  // --- path resolution ---------------------------------------------------------------------
  /** The real path of `p` (symlinks resolved; the last one too when `followLast`), or undefined. */
  private resolve(p: string, followLast = true, depth = 0): string | undefined {
    if (depth > 40) return undefined;
    const segs = posix.normalize(p).split('/').filter(Boolean);
    let cur = '/';
    for (let i = 0; i < segs.length; i++) {
      const next = posix.join(cur, segs[i] as string);
      const n = this.nodes.get(next);
      const last = i === segs.length - 1;
      if (n?.type === 'symlink' && (!last || followLast)) {
        const t = posix.isAbsolute(n.target) ? n.target : posix.join(cur, n.target);
        const r = this.resolve(t, true, depth + 1);
        if (r === undefined) return undefined;
        cur = r;
        continue;
      }
      if (!last && n?.type !== 'dir') return undefined;
      cur = next;
    }
    return cur;
  }
  private node(p: string, followLast = true): [string, Node] | undefined {
    const r = this.resolve(p, followLast);
    const n = r === undefined ? undefined : this.nodes.get(r);
    return r !== undefined && n ? [r, n] : undefined;
  }
  private statOf(n: Node, size = 0): FileStat {
    const kind = n.type === 'file' ? 'file' : n.type === 'dir' ? 'dir' : 'symlink';
    const mode = n.type === 'symlink' ? 0o777 : n.mode;
    return { kind, size: n.type === 'file' ? Buffer.byteLength(n.data) : size, nlink: 1, uid: 0, gid: 0, mode, mtimeMs: n.type === 'file' ? n.mtimeMs : 0 };
  }
  private parentDir(p: string): string {
    const parent = this.node(posix.dirname(p));
    if (!parent || parent[1].type !== 'dir') throw err('ENOENT', 'no such file or directory', p);
    return posix.join(parent[0], posix.basename(p));
  }

  // --- Fs ----------------------------------------------------------------------------------
  readText(p: string): string | undefined {
    const n = this.node(p);
    if (!n) return undefined;
    if (n[1].type !== 'file') throw err('EISDIR', 'illegal operation on a directory', p);
    return n[1].data;
  }
  readlink(p: string): string | undefined {
    const n = this.node(p, false);
    return n?.[1].type === 'symlink' ? n[1].target : undefined;
  }
  readdir(p: string): string[] {
    const r = this.node(p);
    if (!r || r[1].type !== 'dir') return [];
    const prefix = r[0] === '/' ? '/' : `${r[0]}/`;
    return [...this.nodes.keys()].filter((k) => k !== r[0] && k.startsWith(prefix) && !k.slice(prefix.length).includes('/')).map((k) => k.slice(prefix.length));
  }
  exists(p: string): boolean {
    return this.node(p) !== undefined;
  }
  isDir(p: string): boolean {
    return this.node(p)?.[1].type === 'dir';
  }
  realpath(p: string): string | undefined {
    return this.node(p)?.[0];
  }
  // the node tools' members: kernel attributes and whole-file replacement
  writeAttr(p: string, value: string): void {
    const n = this.node(p, false);
    if (!n || n[1].type !== 'file') throw err('ENOENT', 'no such file or directory', p);
    n[1].data = value;
  }
  fileSize(p: string): number | undefined {
    const n = this.node(p);
    return n?.[1].type === 'file' ? Buffer.byteLength(n[1].data) : undefined;
  }
  sameBytes(a: string, b: string): boolean {
    const x = this.node(a);
    const y = this.node(b);
    return x?.[1].type === 'file' && y?.[1].type === 'file' && x[1].data === y[1].data;
  }
  replaceFile(p: string, content: Content, mode: number): void {
    const data = typeof content === 'string' ? content : this.readText(content.copyOf);
    if (data === undefined) throw err('ENOENT', 'no such file or directory', typeof content === 'string' ? p : content.copyOf);
    this.writeAtomic(p, data, mode);
  }
  writeAtomic(p: string, data: string, mode: number): void {
    const real = this.parentDir(p);
    if (this.failWrite(p)) throw err('EIO', 'i/o error', p);
    this.nodes.set(real, { type: 'file', data, mode, mtimeMs: Date.now() });
  }
  mkdirp(p: string, mode: number): void {
    let cur = '/';
    for (const s of posix.normalize(p).split('/').filter(Boolean)) {
      cur = this.resolve(posix.join(cur, s)) ?? posix.join(cur, s);
      const n = this.nodes.get(cur);
      if (!n) this.nodes.set(cur, { type: 'dir', mode });
      else if (n.type !== 'dir') throw err('ENOTDIR', 'not a directory', p);
    }
  }
  remove(p: string): boolean {
    const n = this.node(p, false);
    if (!n || n[1].type === 'dir') return false;
    this.nodes.delete(n[0]);
    return true;
  }
  rename(from: string, to: string): void {
    const n = this.node(from, false);
    if (!n) throw err('ENOENT', 'no such file or directory', from);
    this.nodes.delete(n[0]);
    this.nodes.set(this.parentDir(to), n[1]);
  }
  ageMs(p: string): number {
    const n = this.node(p, false);
    return n?.[1].type === 'file' ? Date.now() - n[1].mtimeMs : Number.POSITIVE_INFINITY;
  }
  readRegular(p: string, maxBytes: number): { text: string } | { problem: string } | undefined {
    const n = this.node(p);
    if (!n) return undefined;
    if (n[1].type !== 'file') return { problem: 'is not a regular file' };
    if (Buffer.byteLength(n[1].data) > maxBytes) return { problem: 'is too large' };
    return { text: n[1].data };
  }
  lstat(p: string): FileStat | undefined {
    const n = this.node(p, false);
    return n && this.statOf(n[1]);
  }
  stat(p: string): FileStat {
    const n = this.node(p);
    if (!n) throw err('ENOENT', 'no such file or directory, stat', p);
    return this.statOf(n[1]);
  }
  mkdir(p: string, mode: number): void {
    const real = this.parentDir(p);
    if (this.nodes.has(real)) throw err('EEXIST', 'file already exists', p);
    this.nodes.set(real, { type: 'dir', mode });
  }
  open(p: string, flags: number, mode = 0o666): number {
    const noFollow = (flags & O.O_NOFOLLOW) !== 0;
    const n = this.node(p, !noFollow);
    if (n?.[1].type === 'symlink') throw err('ELOOP', 'too many symbolic links', p);
    let path = n?.[0];
    if (!n) {
      if (!(flags & O.O_CREAT)) throw err('ENOENT', 'no such file or directory, open', p);
      path = this.parentDir(p);
      this.nodes.set(path, { type: 'file', data: '', mode, mtimeMs: Date.now() });
    }
    const fd = this.nextFd++;
    this.fds.set(fd, { path: path as string, pos: 0, append: (flags & O.O_APPEND) !== 0 });
    return fd;
  }
  private fdNode(fd: number): { path: string; pos: number; append: boolean; node: Node } {
    const f = this.fds.get(fd);
    const node = f && this.nodes.get(f.path);
    if (!f || !node) throw err('EBADF', 'bad file descriptor', String(fd));
    return { ...f, node };
  }
  fstat(fd: number): FileStat {
    return this.statOf(this.fdNode(fd).node);
  }
  read(fd: number, buf: Buffer, off: number, len: number, pos: number | null): number {
    const f = this.fdNode(fd);
    if (f.node.type !== 'file') throw err('EISDIR', 'illegal operation on a directory', f.path);
    const data = Buffer.from(f.node.data, 'utf8');
    const at = pos ?? f.pos;
    const n = Math.max(0, Math.min(len, data.length - at));
    data.copy(buf, off, at, at + n);
    if (pos === null) (this.fds.get(fd) as { pos: number }).pos += n;
    return n;
  }
  write(fd: number, text: string): void {
    const f = this.fdNode(fd);
    if (f.node.type !== 'file') throw err('EISDIR', 'illegal operation on a directory', f.path);
    if (this.failWrite(f.path)) throw err('EIO', 'i/o error', f.path);
    f.node.data += text;
  }
  close(fd: number): void {
    if (!this.fds.delete(fd)) throw err('EBADF', 'bad file descriptor', String(fd));
  }
  netnsState(p: string): NetnsState {
    return this.liveNetns.has(p) ? 'live' : 'gone';
  }
  /** descriptors open now (a call must close every one it opened) */
  get openFds(): number {
    return this.fds.size;
  }
}

/** A program the fake host was asked to run. */
export interface Ran {
  file: string;
  args: string[];
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** What a scripted program answers; undefined: exit 0 with no output. */
export type Script = (r: Ran) => Partial<ExecResult> | undefined;

export interface FakeHost extends Host {
  readonly fs: MemFs;
  readonly ran: Ran[];
  /** the answers of programs run with host.exec (ip, nsenter...) */
  script: Script;
  /** the answers of programs run with host.execBounded (IPAM plugins) */
  bounded: Script;
}

/** A fake node under its own root (which scopes its locks apart from every other test). */
export function fakeHost(env: NodeJS.ProcessEnv = {}): FakeHost {
  const root = `/fake-${randomBytes(6).toString('hex')}`;
  const fs = new MemFs();
  const ran: Ran[] = [];
  const answer = (s: Script, r: Ran): ExecResult => ({ code: 0, stdout: '', stderr: '', ...s(r) });
  const h: FakeHost = {
    root,
    fs,
    ran,
    script: () => undefined,
    bounded: () => undefined,
    exec: ((file: string, args: readonly string[], opts?: ExecOptions) => {
      const r: Ran = { file, args: [...args], input: opts?.input, env: opts?.env };
      ran.push(r);
      return answer(h.script, r);
    }) as Exec,
    execBounded: (async (file: string, args: readonly string[], opts: BoundedOptions): Promise<BoundedResult> => {
      const r: Ran = { file, args: [...args], input: opts.input, env: opts.env };
      ran.push(r);
      return answer(h.bounded, r);
    }) as BoundedExec,
    tool: (name) => `/usr/sbin/${name}`,
    p: (path) => root + path,
    env,
  };
  return h;
}

export interface Called extends Outcome {
  json: any;
  /** the log lines runCni wrote (stderr sink), parsed */
  logs: Array<Record<string, unknown>>;
}

/** One CNI call through runCni against `host`: the real verbs, the host's fs and programs, captured logs. */
export async function call(host: FakeHost, env: NodeJS.ProcessEnv, conf: unknown): Promise<Called> {
  const lines: string[] = [];
  const sink = { write: (t: string) => void lines.push(t), close: () => undefined };
  const c: Collaborators = {
    handlers,
    host: (e) => ({ ...host, env: { ...host.env, ...e } }),
    logger: (lc, _h, bound) => stderrLogger(lc.logLevel, bound, sink),
    stdin: () => (typeof conf === 'string' ? conf : JSON.stringify(conf)),
  };
  const out = await runCni(env, c);
  let json: any;
  try {
    json = out.stdout.trim() ? JSON.parse(out.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { ...out, json, logs: lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}
