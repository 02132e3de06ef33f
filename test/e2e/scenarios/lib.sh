# shellcheck shell=bash
# Guest-side helpers for the e2e scenarios (sourced by guest-main.sh, never run on the host).
# Every scenario drives the BUILT plugin exactly as a runtime does: CNI_* env + netconf on stdin,
# result or error JSON on stdout, exit code.

E2E_BIN=${DPDK_CNI_BIN:?DPDK_CNI_BIN must name the built plugin}
E2E_REPO=${E2E_REPO:-$(pwd -P)}
STATE=/var/lib/cni/dpdk-cni
DEVINFO_DIR=/var/run/k8s.cni.cncf.io/devinfo/cni
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -n "$(ls /sys/class/iommu 2>/dev/null)" ]; then IOMMU_MODE=iommu; else IOMMU_MODE=noiommu; fi

# ------------------------------------------------------------------ assertions
S_PASS=0 S_FAIL=0
ok()  { S_PASS=$((S_PASS + 1)); echo "ok   - $*"; }
bad() { S_FAIL=$((S_FAIL + 1)); echo "FAIL - $*"; }
indent() { sed 's/^/       /'; }
# check "description" command... — passes when the command exits 0 (its output is shown on failure)
check() {
  local d=$1 out; shift
  if out=$("$@" 2>&1); then ok "$d"; else bad "$d"; [ -n "$out" ] && printf '%s\n' "$out" | head -40 | indent; fi
}
# expect_eq "description" actual expected
expect_eq() {
  if [ "$2" == "$3" ]; then ok "$1"; else bad "$1"; printf 'got:      %s\nexpected: %s\n' "$2" "$3" | indent; fi
}
# expect_match "description" actual extended-regex
expect_match() {
  if [[ "$2" =~ $3 ]]; then ok "$1"; else bad "$1"; printf 'got:      %s\nexpected: /%s/\n' "$2" "$3" | indent; fi
}
# expect_same "description" "$actual" "$expected" — JSON documents compared; a diff on failure
# (temp files, not <(...): the guest has no /dev/fd)
expect_same() {
  if [ "$2" == "$3" ]; then ok "$1"; else bad "$1"; show_diff "$3" "$2"; fi
}
show_diff() { # show_diff EXPECTED ACTUAL — a unified diff of two JSON documents (sorted keys, pretty)
  local e g; e=$(mktemp); g=$(mktemp)
  printf '%s\n' "$1" | jq -S . >"$e" 2>/dev/null || printf '%s\n' "$1" >"$e"
  printf '%s\n' "$2" | jq -S . >"$g" 2>/dev/null || printf '%s\n' "$2" >"$g"
  echo "--- expected  +++ got"
  diff -u "$e" "$g" | tail -n +3 | head -60 | indent
  rm -f "$e" "$g"
}
# expect_snapshot "description" "$expected" SNAPSHOT-COMMAND [ARGS...] — the kernel settles
# asynchronously after a link moves (IPv6 DAD, link-local and multicast routes, carrier): take the
# snapshot again for up to E2E_SETTLE_S seconds (default 20) until it equals what is expected; a
# real difference stays and is shown as a diff.
expect_snapshot() {
  local d=$1 want=$2 got n; shift 2
  n=$((${E2E_SETTLE_S:-20} * 2))
  while :; do
    got=$("$@")
    [ "$got" == "$want" ] && { ok "$d"; return; }
    n=$((n - 1)); [ $n -le 0 ] && break
    sleep 0.5
  done
  bad "$d"; show_diff "$want" "$got"
}
section() { echo "--- $* (uptime $(cut -d' ' -f1 /proc/uptime))"; }

# ------------------------------------------------------------------ running the plugin
# Attachment coordinates, as a runtime passes them (set by each scenario before cni calls).
CID="" NETNS="" IFNAME="net1" CNIPATH=/usr/lib/cni ROOT=""
CNI_OUT="" CNI_RC=0 CNI_ERR="" CNI_MS=0 CNI_CALLS=0 CNI_TOTAL_MS=0
# cni CMD 'netconf JSON' [VAR=value ...] — runs the plugin; sets CNI_OUT (stdout), CNI_RC, CNI_ERR (stderr)
cni() {
  local cmd=$1 conf=$2 errf; shift 2
  errf=$(mktemp)
  local t0; t0=$(date +%s%N)
  local envs=(CNI_COMMAND="$cmd" CNI_CONTAINERID="$CID" CNI_NETNS="$NETNS" CNI_IFNAME="$IFNAME" CNI_PATH="$CNIPATH")
  [ -n "$ROOT" ] && envs+=(DPDK_CNI_ROOT="$ROOT")
  CNI_OUT=$(printf '%s' "$conf" | env -i PATH="$PATH" "${envs[@]}" "$@" timeout -k 5 "${E2E_CNI_TIMEOUT:-300}" "$E2E_BIN" 2>"$errf")
  CNI_RC=$?
  CNI_ERR=$(cat "$errf"); rm -f "$errf"
  CNI_MS=$((($(date +%s%N) - t0) / 1000000))
  CNI_CALLS=$((CNI_CALLS + 1)); CNI_TOTAL_MS=$((CNI_TOTAL_MS + CNI_MS))
  echo "       [$cmd $CID/$IFNAME rc=$CNI_RC ${CNI_MS} ms]"
}
show_cni() { printf 'rc=%s stdout=%s\n' "$CNI_RC" "$CNI_OUT" | indent; [ -n "$CNI_ERR" ] && printf '%s\n' "$CNI_ERR" | tail -8 | indent; }
# cni_ok "description" CMD conf [VAR=value...] — the command must succeed (exit 0; ADD: a result)
cni_ok() {
  local d=$1; shift
  cni "$@"
  if [ "$CNI_RC" = 0 ] && { [ "$1" != ADD ] || jq -e '.cniVersion and (.interfaces | type == "array")' <<<"$CNI_OUT" >/dev/null 2>&1; }; then
    ok "$d"
  else
    bad "$d"; show_cni
  fi
}
# cni_fails "description" CMD conf regex [VAR=value...] — must exit non-zero with error JSON whose msg matches
cni_fails() {
  local d=$1 cmd=$2 conf=$3 re=$4; shift 4
  cni "$cmd" "$conf" "$@"
  local msg; msg=$(jq -r '.msg // empty' <<<"$CNI_OUT" 2>/dev/null)
  if [ "$CNI_RC" != 0 ] && jq -e '.code | type == "number"' <<<"$CNI_OUT" >/dev/null 2>&1 && [[ "$msg" =~ $re ]]; then
    ok "$d"; echo "       error: $msg" | cut -c1-400
  else
    bad "$d (expected failure with msg =~ /$re/)"; show_cni
  fi
}
# netconf builder: conf NAME PCI [jq object merged in], e.g. conf n1 0000:00:10.0 '{mtu: 9000}'
conf() {
  local name=$1 pci=$2 extra=${3:-'{}'}
  jq -cn --arg name "$name" --arg pci "$pci" "{cniVersion: \"1.1.0\", name: \$name, type: \"dpdk-cni\", deviceID: \$pci} + $extra"
}
devinfo_path() { echo "$DEVINFO_DIR/default-$1-${2}_${3}"; } # net cid ifname (Multus' unique name)
state_file() { echo "${ROOT}$STATE/attachments/$1@$2@$3.json"; }  # net cid ifname
marker_file() { echo "${ROOT}$STATE/devices/$1.json"; }

# ------------------------------------------------------------------ devices
netdev_of() { ls /sys/bus/pci/devices/"$1"/virtio*/net/ 2>/dev/null | head -1; }
driver_of() { basename "$(readlink /sys/bus/pci/devices/"$1"/driver 2>/dev/null)" 2>/dev/null; }
bind_pci() {
  local a=$1 drv=$2
  [ "$(driver_of "$a")" = "$drv" ] && return 0
  [ -e /sys/bus/pci/devices/"$a"/driver ] && echo "$a" >/sys/bus/pci/devices/"$a"/driver/unbind
  echo "$drv" >/sys/bus/pci/devices/"$a"/driver_override
  echo "$a" >/sys/bus/pci/drivers_probe
  [ "$(driver_of "$a")" = "$drv" ] || { echo "$a is bound to '$(driver_of "$a")', not $drv"; return 1; }
}
# back to the kernel virtio-net driver (a netdev reappears)
bind_virtio() { bind_pci "$1" virtio-pci && echo "" >/sys/bus/pci/devices/"$1"/driver_override; }
VFIO_LOADED=0
load_vfio() {
  [ $VFIO_LOADED = 1 ] && return 0
  if [ "$IOMMU_MODE" = noiommu ]; then modprobe vfio enable_unsafe_noiommu_mode=1 || return 1; fi
  modprobe vfio-pci && VFIO_LOADED=1
}
hugepages() { [ "$(cat $HP)" -ge "$1" ] || echo "$1" >$HP; [ "$(cat $HP)" -ge "$1" ]; }
# wait_for SECONDS command... — poll every 0.2 s
wait_for() {
  local n=$(($1 * 5)); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; n=$((n - 1)); done
  "$@"
}

# ------------------------------------------------------------------ snapshots of what a user can see
# Wait (up to 10 s) until no address of the netns is still tentative (IPv6 DAD): its local and
# link-local routes appear only after DAD, so a snapshot taken earlier would differ from a later one.
settle_dad() { # settle_dad [NETNS-NAME]
  local n=() i=50
  [ -n "${1:-}" ] && n=(-n "$1")
  while [ $i -gt 0 ] && ip "${n[@]}" -j addr show 2>/dev/null | jq -e '[.[].addr_info[]? | select(.tentative)] | length > 0' >/dev/null; do
    sleep 0.2; i=$((i - 1))
  done
}
# One link as `ip -j -d link` shows it (ifindex, name, MAC, MTU, flags, driver details...) plus its
# addresses (IPv6 lifetimes/DAD flags dropped: they are not ours to keep).
link_snapshot() { # link_snapshot IFNAME [NETNS-NAME]
  local n=()
  [ -n "${2:-}" ] && n=(-n "$2")
  settle_dad "${2:-}"
  local l a
  l=$(ip "${n[@]}" -j -d link show dev "$1" 2>/dev/null) || { echo "missing:$1"; return; }
  a=$(ip "${n[@]}" -j addr show dev "$1" 2>/dev/null)
  jq -cS -n --argjson l "$l" --argjson a "$a" '$l[0] + {addrs: [$a[0].addr_info[]? | {family, local, prefixlen, scope}]}'
}
# every link of a netns (names, MACs, MTUs, flags), addresses and routes (route fields the kernel
# changes on its own — expiry timers, cache flags — dropped)
netns_snapshot() { # netns_snapshot [NETNS-NAME]
  local n=()
  [ -n "${1:-}" ] && n=(-n "$1")
  settle_dad "${1:-}"
  jq -cS -n --argjson l "$(ip "${n[@]}" -j -d link show)" --argjson a "$(ip "${n[@]}" -j addr show)" \
    --argjson r "$(ip "${n[@]}" -j route show table all 2>/dev/null || echo '[]')" \
    '{links: [$l[] | del(.operstate)], addrs: [$a[] | {ifname, a: [.addr_info[]? | {family, local, prefixlen}]}], routes: [$r[] | del(.expires, .cache)]}'
}
# IPs host-local holds for a network
ipam_allocs() { ls /var/lib/cni/networks/"$1" 2>/dev/null | grep -E '^[0-9a-f.:]+$' | sort | tr '\n' ' '; }
# state the plugin keeps on disk (attachments + allocation markers)
state_list() { (cd "${ROOT}$STATE" 2>/dev/null && find attachments devices -type f 2>/dev/null | sort | tr '\n' ' '); }

# TCP reachability (no ping on the image): a peer answers "hello"
BG_PIDS=()
tcp_server() { # tcp_server NETNS-NAME IP PORT
  ip netns exec "$1" node -e '
    const [ip, port] = process.argv.slice(1);
    require("net").createServer((s) => s.end("hello from " + ip + "\n")).listen(Number(port), ip);
  ' "$2" "$3" &
  BG_PIDS+=($!)
  wait_for 10 bash -c "ip netns exec $1 ss -ltn | grep -q '$2:$3'"
}
tcp_hello() { # tcp_hello NETNS-NAME IP PORT → prints what the server said
  ip netns exec "$1" timeout 10 bash -c "exec 3<>/dev/tcp/$2/$3 && cat <&3"
}
stop_bg() { local p; for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; BG_PIDS=(); }

# ------------------------------------------------------------------ dpdk-testpmd
# run_testpmd LOG SECONDS EAL-ARGS... — io forwarding with --tx-first. Waits (up to 5 min: EAL
# start-up under TCG on a busy host is slow) until testpmd has started forwarding, lets it forward
# SECONDS, then stops it with SIGINT as an operator would; it prints its final counters and exits.
run_testpmd() {
  local log=$1 secs=$2 pid n=0; shift 2
  stdbuf -oL -eL dpdk-testpmd -l 0-1 -n 1 "$@" -- \
    --auto-start --tx-first --forward-mode=io --stats-period 2 --nb-cores=1 --txd=256 --rxd=256 \
    --total-num-mbufs=8192 >"$log" 2>&1 </dev/null &
  pid=$!
  while kill -0 $pid 2>/dev/null && ! grep -q 'start packet forwarding' "$log" && [ $n -lt 1500 ]; do sleep 0.2; n=$((n + 1)); done
  echo "       testpmd forwarding after $((n / 5)) s; log: $log"
  sleep "$secs"
  TESTPMD_TELEMETRY=""
  [ -n "${TESTPMD_PREFIX:-}" ] && TESTPMD_TELEMETRY=$(testpmd_telemetry "$TESTPMD_PREFIX" '/ethdev/link_status,0')
  kill -INT $pid 2>/dev/null
  n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 150 ]; do sleep 0.2; n=$((n + 1)); done
  kill -KILL $pid 2>/dev/null
  wait $pid; echo "       testpmd exit $?"
}
# testpmd_telemetry FILE-PREFIX COMMAND — one query on DPDK's telemetry socket (SOCK_SEQPACKET)
testpmd_telemetry() {
  timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("/var/run/dpdk/%s/dpdk_telemetry.v2" % sys.argv[1]); s.recv(4096)
s.send(sys.argv[2].encode()); print(s.recv(65536).decode())' "$1" "$2" 2>&1
}
# final per-port counters from a testpmd log as JSON {"0": {"rx": N, "tx": N}, ...}
testpmd_counts() {
  node -e '
    const t = require("fs").readFileSync(process.argv[1], "utf8");
    const re = /Forward statistics for port (\d+)[\s\S]*?RX-packets:\s*(\d+)[\s\S]*?TX-packets:\s*(\d+)/g;
    const out = {}; let m;
    while ((m = re.exec(t))) out[m[1]] = { rx: Number(m[2]), tx: Number(m[3]) };
    console.log(JSON.stringify(out));
  ' "$1"
}
