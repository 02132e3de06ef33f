/**
 * Every line a node tool prints goes through here. Names in what the tools print come from pods
 * (CNI_IFNAME, from the pod's networks annotation, may hold ESC, BEL or any byte the kernel takes
 * in an interface name) and from the node's files; printed raw they would drive the operator's
 * terminal (clear it, retitle it, hide text). Control characters other than newline and tab are
 * shown as \xHH instead. JSON output is unaffected: JSON.stringify already escapes them.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

function printable(s: string): string {
  return s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function out(s: string): void {
  process.stdout.write(printable(s));
}

export function err(s: string): void {
  process.stderr.write(printable(s));
}
