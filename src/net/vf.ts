/**
 * VF settings made through the PF (`ip link set dev PF vf N ...`): reading a VF's state from
 * `ip -j -d link show dev PF`, building the commands that apply and restore settings, and
 * comparing what is there with what was asked. Pure functions; iproute.ts runs them.
 */

export type VlanProto = '802.1q' | '802.1ad';
export type LinkState = 'auto' | 'enable' | 'disable';

export interface VfState {
  mac: string;
  vlan: number;
  qos: number;
  proto: VlanProto;
  spoofchk?: boolean;
  trust?: boolean;
  linkState?: LinkState;
  minTx: number;
  maxTx: number;
}

/** What a netconf asks of the VF. Only set fields are touched. */
export interface VfSettings {
  vlan?: number;
  qos?: number;
  proto?: VlanProto;
  mac?: string;
  spoofchk?: boolean;
  trust?: boolean;
  linkState?: LinkState;
  minTx?: number;
  maxTx?: number;
}

export interface PfLink {
  ifname: string;
  mtu: number;
  vfs: Map<number, VfState>;
}

function rec(x: unknown): Record<string, unknown> | undefined {
  return x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
}

function parseProto(p: unknown): VlanProto {
  return typeof p === 'string' && p.toLowerCase() === '802.1ad' ? '802.1ad' : '802.1q';
}

export function parseVf(o: Record<string, unknown>): VfState {
  const vl = Array.isArray(o.vlan_list) ? rec(o.vlan_list[0]) : undefined;
  const rate = rec(o.rate);
  const st: VfState = {
    mac: typeof o.address === 'string' ? o.address.toLowerCase() : '00:00:00:00:00:00',
    vlan: Number(vl?.vlan ?? o.vlan ?? 0) || 0,
    qos: Number(vl?.qos ?? o.qos ?? 0) || 0,
    proto: parseProto(vl?.protocol ?? o.protocol),
    minTx: Number(rate?.min_tx ?? 0) || 0,
    maxTx: Number(rate?.max_tx ?? o.tx_rate ?? 0) || 0,
  };
  if (typeof o.spoofchk === 'boolean') st.spoofchk = o.spoofchk;
  if (typeof o.trust === 'boolean') st.trust = o.trust;
  if (o.link_state === 'auto' || o.link_state === 'enable' || o.link_state === 'disable') st.linkState = o.link_state;
  return st;
}

/** Parse `ip -j -d link show dev PF` output. */
export function parsePfLink(json: unknown[] | undefined): PfLink | undefined {
  const l = rec(json?.[0]);
  if (!l || typeof l.ifname !== 'string') return undefined;
  const vfs = new Map<number, VfState>();
  if (Array.isArray(l.vfinfo_list)) {
    for (const v of l.vfinfo_list) {
      const o = rec(v);
      if (o && typeof o.vf === 'number') vfs.set(o.vf, parseVf(o));
    }
  }
  return { ifname: l.ifname, mtu: typeof l.mtu === 'number' ? l.mtu : 0, vfs };
}

export function hasSettings(s: VfSettings): boolean {
  return Object.values(s).some((v) => v !== undefined);
}

const onoff = (b: boolean): string => (b ? 'on' : 'off');

/**
 * One command per setting, in the order sriov-cni applies them (vlan, MAC, rates, spoofchk,
 * trust, link state), so a failure names the setting the driver refused.
 */
export function applyCommands(pf: string, vf: number, s: VfSettings, orig: VfState): string[][] {
  const base = ['link', 'set', 'dev', pf, 'vf', String(vf)];
  const out: string[][] = [];
  if (s.vlan !== undefined) {
    const c = [...base, 'vlan', String(s.vlan), 'qos', String(s.qos ?? 0)];
    const proto = s.proto ?? '802.1q';
    // Only name the protocol when it is (or was) 802.1ad: drivers without VLAN-list support refuse it.
    if (proto === '802.1ad' || orig.proto === '802.1ad') c.push('proto', proto === '802.1ad' ? '802.1ad' : '802.1Q');
    out.push(c);
  }
  if (s.mac !== undefined) out.push([...base, 'mac', s.mac]);
  if (s.minTx !== undefined || s.maxTx !== undefined) {
    out.push([...base, 'max_tx_rate', String(s.maxTx ?? orig.maxTx), 'min_tx_rate', String(s.minTx ?? orig.minTx)]);
  }
  if (s.spoofchk !== undefined) out.push([...base, 'spoofchk', onoff(s.spoofchk)]);
  if (s.trust !== undefined) out.push([...base, 'trust', onoff(s.trust)]);
  if (s.linkState !== undefined) out.push([...base, 'state', s.linkState]);
  return out;
}

/**
 * The part of `want` that differs from what the VF has (`cur`): only that is written, and only
 * that is put back. A setting equal to the VF's is a no-op, never a command — a driver without
 * the feature (link_state on igb, trust, min_tx_rate) refuses even a write of the value it has,
 * and a "vlan 0" write undoes a per-VF trunk policy (sriov-cni#291). A setting the PF does not
 * report (spoofchk/trust/link_state absent) is written.
 */
export function changedSettings(want: VfSettings, cur: VfState): VfSettings {
  const r: VfSettings = {};
  if (want.vlan !== undefined) {
    const qos = want.qos ?? 0;
    const proto = want.proto ?? '802.1q';
    if (cur.vlan !== want.vlan || cur.qos !== qos || (want.vlan !== 0 && cur.proto !== proto)) {
      r.vlan = want.vlan;
      r.qos = qos;
      r.proto = proto;
    }
  }
  if (want.mac !== undefined && cur.mac !== want.mac.toLowerCase()) r.mac = want.mac;
  if ((want.minTx !== undefined && want.minTx !== cur.minTx) || (want.maxTx !== undefined && want.maxTx !== cur.maxTx)) {
    if (want.minTx !== undefined) r.minTx = want.minTx;
    if (want.maxTx !== undefined) r.maxTx = want.maxTx;
  }
  if (want.spoofchk !== undefined && cur.spoofchk !== want.spoofchk) r.spoofchk = want.spoofchk;
  if (want.trust !== undefined && cur.trust !== want.trust) r.trust = want.trust;
  if (want.linkState !== undefined && cur.linkState !== want.linkState) r.linkState = want.linkState;
  return r;
}

/** The settings that put back what `applied` changed (settings equal to the originals were not written), from the saved originals. */
export function restoreSettings(asked: VfSettings, orig: VfState): VfSettings {
  const applied = changedSettings(asked, orig);
  const r: VfSettings = {};
  if (applied.vlan !== undefined) {
    r.vlan = orig.vlan;
    r.qos = orig.qos;
    r.proto = orig.proto;
  }
  if (applied.mac !== undefined) r.mac = orig.mac;
  if (applied.minTx !== undefined || applied.maxTx !== undefined) {
    r.minTx = orig.minTx;
    r.maxTx = orig.maxTx;
  }
  if (applied.spoofchk !== undefined && orig.spoofchk !== undefined) r.spoofchk = orig.spoofchk;
  if (applied.trust !== undefined && orig.trust !== undefined) r.trust = orig.trust;
  if (applied.linkState !== undefined && orig.linkState !== undefined) r.linkState = orig.linkState;
  return r;
}

/** Restore commands (with `cur`, the VF's state now: only what differs from the originals); the vlan command names the protocol that was applied so 802.1ad is undone. */
export function restoreCommands(pf: string, vf: number, applied: VfSettings, orig: VfState, cur?: VfState): string[][] {
  // what the VF has again already (a rollback after the driver refused the setting) is not written
  const r = cur ? changedSettings(restoreSettings(applied, orig), cur) : restoreSettings(applied, orig);
  const appliedProto: VfState = { ...orig, proto: applied.proto ?? '802.1q' };
  return applyCommands(pf, vf, r, appliedProto);
}

/** Every difference between what is on the VF and what was asked, as readable phrases. */
export function diffVf(cur: VfState, want: VfSettings): string[] {
  const d: string[] = [];
  if (want.vlan !== undefined && cur.vlan !== want.vlan) d.push(`vlan is ${cur.vlan}, expected ${want.vlan}`);
  if (want.vlan !== undefined && cur.qos !== (want.qos ?? 0)) d.push(`vlanQoS is ${cur.qos}, expected ${want.qos ?? 0}`);
  if (want.vlan !== undefined && want.vlan !== 0 && cur.proto !== (want.proto ?? '802.1q')) d.push(`vlanProto is ${cur.proto}, expected ${want.proto ?? '802.1q'}`);
  if (want.mac !== undefined && cur.mac !== want.mac.toLowerCase()) d.push(`mac is ${cur.mac}, expected ${want.mac}`);
  if (want.spoofchk !== undefined && cur.spoofchk !== want.spoofchk) d.push(`spoofchk is ${onoff(cur.spoofchk ?? false)}, expected ${onoff(want.spoofchk)}`);
  if (want.trust !== undefined && cur.trust !== want.trust) d.push(`trust is ${onoff(cur.trust ?? false)}, expected ${onoff(want.trust)}`);
  if (want.linkState !== undefined && cur.linkState !== want.linkState) d.push(`link_state is ${cur.linkState ?? 'unknown'}, expected ${want.linkState}`);
  if (want.maxTx !== undefined && cur.maxTx !== want.maxTx) d.push(`max_tx_rate is ${cur.maxTx}, expected ${want.maxTx}`);
  if (want.minTx !== undefined && cur.minTx !== want.minTx) d.push(`min_tx_rate is ${cur.minTx}, expected ${want.minTx}`);
  return d;
}
