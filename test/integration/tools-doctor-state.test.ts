import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cni.js';
import { awsNode, ENA_VFIO, tool } from './tools-helpers.js';

/**
 * State files the plugin refuses to use (a corrupt attachment state, one written by a newer
 * dpdk-cni, a bad allocation marker, a bad known/<pci>.json) are reported by `doctor`, naming
 * the file and what is wrong, never skipped in silence.
 */
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir('dpdk-cni-docstate-');
});
afterEach(() => dir.cleanup());

const doctor = (root: string): any => tool(['doctor', '--json'], root).json;
const stateChecks = (j: any): any[] => j.checks.filter((c: any) => String(c.id).startsWith('state'));

describe('doctor reports state files the plugin cannot use', () => {
  it('a corrupt attachment state, a newer-version one, a bad marker and a bad known file: each a warning naming the file', () => {
    const n = awsNode(dir.path);
    const st = join(n.root, 'var/lib/cni/dpdk-cni');
    for (const d of ['attachments', 'devices', 'known']) mkdirSync(join(st, d), { recursive: true });
    writeFileSync(join(st, 'attachments', 'net-a@cid1@net1.json'), '{"version":1,"phase":"added","key":');
    writeFileSync(join(st, 'attachments', 'net-b@cid2@net1.json'), JSON.stringify({ version: 9, phase: 'added', key: { net: 'net-b', containerID: 'cid2', ifname: 'net1' } }));
    mkdirSync(join(st, 'attachments', 'net-c@cid3@net1.json'));
    writeFileSync(join(st, 'devices', `${ENA_VFIO}.json`), JSON.stringify({ key: { net: '../x', containerID: 'c', ifname: 'net1' }, netns: 'relative' }));
    writeFileSync(join(st, 'known', `${ENA_VFIO}.json`), JSON.stringify({ pci: ENA_VFIO, mac: 'ff:ff:ff:ff:ff:ff', mtu: 9 }));
    const checks = stateChecks(doctor(n.root));
    const text = JSON.stringify(checks);
    expect(checks.every((c) => c.status === 'warn'), text).toBe(true);
    expect(checks.find((c) => c.id === 'state:net-a/cid1/net1')?.message, text).toMatch(/net-a@cid1@net1\.json cannot be used/);
    expect(checks.find((c) => c.id === 'state:net-b/cid2/net1')?.message, text).toMatch(/version 9|newer/);
    expect(checks.find((c) => c.id === 'state:net-c/cid3/net1')?.message, text).toMatch(/net-c@cid3@net1\.json cannot be used: it is a directory/);
    const dev = checks.filter((c) => c.id === `state:${ENA_VFIO}`).map((c) => c.message).join('\n');
    expect(dev).toMatch(/allocation marker .*devices\/0000:00:06\.0\.json cannot be used/);
    expect(dev).toMatch(/known\/0000:00:06\.0\.json/);
  });

  it('valid state only: one pass line', () => {
    const n = awsNode(dir.path);
    const checks = stateChecks(doctor(n.root));
    expect(checks.map((c) => c.status)).toEqual(['pass']);
  });
});
