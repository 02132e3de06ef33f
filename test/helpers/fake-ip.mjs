#!/usr/bin/env node
// A stand-in for iproute2's `ip` (test build only: DPDK_CNI_TEST_TOOLS points the plugin at it) for
// SR-IOV PFs that exist only in the simulated sysfs. The PFs and their VFs live in the JSON file
// FAKE_IP_STATE: { "<pf>": { "mtu": n, "vfinfo_list": [...as ip -j -d prints it], "refuse": ["state", ...], "showFails": true } }.
// `link show dev <pf>` prints the PF, `link set dev <pf> vf N ...` changes it (a key in "refuse" fails
// as a driver without that feature does) and is appended to the file's "log"; everything else goes to
// the real ip.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.FAKE_IP_STATE;
const db = JSON.parse(readFileSync(file, 'utf8'));
const REAL = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => { try { readFileSync(p); return true; } catch { return false; } });

function pfOf(cmd) {
  const i = cmd.indexOf('dev');
  const name = i >= 0 ? cmd[i + 1] : undefined;
  return cmd[0] === 'link' && name && Object.hasOwn(db, name) && name !== 'log' ? name : undefined;
}

/** One command on a fake PF: [ok, stdout, stderr]. */
function one(cmd) {
  const pf = pfOf(cmd);
  const p = db[pf];
  if (cmd[1] === 'show' && p.showFails) return [false, '', 'Cannot send dump request: Resource temporarily unavailable'];
  if (cmd[1] === 'show') return [true, JSON.stringify([{ ifindex: 9000, ifname: pf, mtu: p.mtu ?? 1500, address: '3c:fd:fe:00:00:01', flags: ['BROADCAST', 'MULTICAST', 'UP'], num_vf: p.vfinfo_list.length, vfinfo_list: p.vfinfo_list }]), ''];
  if (cmd[1] !== 'set') return [false, '', `fake ip: unsupported ${cmd.join(' ')}`];
  const vi = cmd.indexOf('vf');
  const vf = p.vfinfo_list.find((v) => v.vf === Number(cmd[vi + 1]));
  if (!vf) return [false, '', 'RTNETLINK answers: Invalid argument'];
  const kv = cmd.slice(vi + 2);
  for (let i = 0; i < kv.length; i += 2) if ((p.refuse ?? []).includes(kv[i])) return [false, '', 'RTNETLINK answers: Operation not supported'];
  (db.log ??= []).push(cmd.join(' '));
  for (let i = 0; i < kv.length; i += 2) {
    const [k, v] = [kv[i], kv[i + 1]];
    if (k === 'vlan') vf.vlan_list = [Number(v) ? { vlan: Number(v) } : {}];
    else if (k === 'qos') { if (vf.vlan_list[0].vlan) vf.vlan_list[0].qos = Number(v); }
    else if (k === 'proto') { if (vf.vlan_list[0].vlan) vf.vlan_list[0].protocol = v === '802.1ad' ? '802.1ad' : '802.1Q'; }
    else if (k === 'mac') vf.address = v.toLowerCase();
    else if (k === 'max_tx_rate') { vf.rate.max_tx = Number(v); vf.tx_rate = Number(v); }
    else if (k === 'min_tx_rate') vf.rate.min_tx = Number(v);
    else if (k === 'spoofchk' || k === 'trust') vf[k] = v === 'on';
    else if (k === 'state') vf.link_state = v;
    else return [false, '', `fake ip: unknown vf key ${k}`];
  }
  return [true, '', ''];
}

function real(args, input) {
  const r = spawnSync(REAL, args, { input, encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  process.exit(r.status ?? 1);
}

const argv = process.argv.slice(2);
const opts = [];
while (argv[0]?.startsWith('-') && argv[0] !== '-batch') opts.push(argv.shift());
let cmds;
let input;
if (argv[0] === '-batch') {
  input = readFileSync(0, 'utf8');
  cmds = input.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
} else cmds = [argv];
if (!cmds.every((c) => pfOf(c))) real(process.argv.slice(2), input);
let out = '';
for (const [n, c] of cmds.entries()) {
  const [ok, o, e] = one(c);
  out += o;
  if (!ok) {
    writeFileSync(file, JSON.stringify(db));
    process.stdout.write(out);
    process.stderr.write(`${e}\n${input !== undefined ? `Command failed -:${n + 1}\n` : ''}`);
    process.exit(1);
  }
}
writeFileSync(file, JSON.stringify(db));
process.stdout.write(out);
