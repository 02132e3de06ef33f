# shellcheck shell=bash
# Scenario 4 — a PF-less kernel netdev (virtio-net NIC 0000:00:13.0) moved into a pod, configured
# (MTU 9000, MAC, host-local IP + route), reachable from its hub peer, and put back by DEL.
# Failures injected mid-ADD (a route the kernel refuses after the device was moved, renamed,
# re-addressed and given an IP; an IPAM plugin that fails after the write-ahead state; a CNI_IFNAME
# that already exists in the pod) must leave the host exactly as it was.

S4_PCI=0000:00:13.0   # the device under test (hub 1)
S4_PEER=0000:00:12.0  # its hub-1 peer, parked in its own netns as the "other side of the wire"
S4_NET=e2e-kernel

s4_ipam() { # s4_ipam [extra route JSON object]
  local routes='[{"dst": "198.51.100.0/24"}]'
  [ -n "${1:-}" ] && routes="[{\"dst\": \"198.51.100.0/24\"}, $1]"
  echo "{ipam: {type: \"host-local\", ranges: [[{subnet: \"10.56.4.0/24\", rangeStart: \"10.56.4.10\", rangeEnd: \"10.56.4.20\", gateway: \"10.56.4.1\"}]], routes: $routes}}"
}

scenario_s4_kernel_netdev() {
  local dev peer
  dev=$(netdev_of $S4_PCI); peer=$(netdev_of $S4_PEER)
  check "$S4_PCI has a virtio-net netdev ($dev) and its peer $S4_PEER too ($peer)" test -n "$dev" -a -n "$peer"
  [ -n "$dev" ] && [ -n "$peer" ] || return
  # the host has the NIC up with its own MAC/MTU 1500: that is what DEL must give back
  ip link set "$dev" up
  ip netns add s4peer && ip link set "$peer" netns s4peer && ip -n s4peer addr add 10.56.4.200/24 dev "$peer" && ip -n s4peer link set "$peer" up
  tcp_server s4peer 10.56.4.200 7777
  ip netns add s4pod && ip -n s4pod link set lo up
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"

  CID=e2e-s4-0001 NETNS=/run/netns/s4pod IFNAME=net1
  local di; di=$(devinfo_path $S4_NET $CID net1)
  local host0 pod0 link0 state0
  host0=$(netns_snapshot); pod0=$(netns_snapshot s4pod); link0=$(link_snapshot "$dev"); state0=$(state_list)
  # Multus copies the device plugin's file before calling us; a failed ADD must put it back as it was
  mkdir -p "$(dirname "$di")"
  local dpfile='{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:00:13.0"}}'
  printf '%s' "$dpfile" >"$di"
  local base="{mtu: 9000, mac: \"02:00:00:e2:e4:01\", runtimeConfig: {CNIDeviceInfoFile: \"$di\"}}"

  section "injected failure 1: the pod route cannot be added (after move, rename, MAC, MTU, IPAM, address)"
  cni_fails "ADD with an unreachable route gateway fails and names the route" ADD \
    "$(conf $S4_NET $S4_PCI "$base + $(s4_ipam '{"dst": "203.0.113.0/24", "gw": "192.0.2.1"}')")" 'route add 203.0.113.0/24 via 192.0.2.1'
  s4_assert_untouched "$dev" "$host0" "$pod0" "$link0" "$state0" "$di" "$dpfile" "route failure"

  section "injected failure 2: the IPAM plugin fails (after the write-ahead state)"
  local fake=/tmp/e2e-s4-cni; mkdir -p $fake
  cat >$fake/e2e-failing-ipam <<'IPAM'
#!/bin/sh
cat >/dev/null
echo '{"cniVersion":"1.1.0","code":11,"msg":"e2e: address pool exhausted (injected)"}'
exit 1
IPAM
  chmod +x $fake/e2e-failing-ipam
  CNIPATH=$fake:/usr/lib/cni
  cni_fails "ADD whose IPAM plugin fails reports the IPAM error" ADD \
    "$(conf $S4_NET $S4_PCI "$base + {ipam: {type: \"e2e-failing-ipam\"}}")" 'address pool exhausted'
  CNIPATH=/usr/lib/cni
  s4_assert_untouched "$dev" "$host0" "$pod0" "$link0" "$state0" "$di" "$dpfile" "IPAM failure"

  section "injected failure 3: CNI_IFNAME already exists in the pod"
  ip -n s4pod link add net1 type dummy
  local podx; podx=$(netns_snapshot s4pod)
  cni_fails "ADD into a pod that already has net1 is refused" ADD "$(conf $S4_NET $S4_PCI "$base + $(s4_ipam)")" 'net1 already exists'
  expect_snapshot "the pod's own net1 is left alone" "$podx" netns_snapshot s4pod
  ip -n s4pod link del net1
  s4_assert_untouched "$dev" "$host0" "$pod0" "$link0" "$state0" "$di" "$dpfile" "existing CNI_IFNAME"
  rm -f "$di"

  section "ADD: the NIC becomes the pod's net1 (MAC, MTU 9000, host-local IP, route)"
  local c; c=$(conf $S4_NET $S4_PCI "$base + $(s4_ipam)")
  cni_ok "ADD succeeds" ADD "$c"
  local res=$CNI_OUT
  expect_eq "result: interface net1 in the pod sandbox with the MAC and MTU asked for" \
    "$(jq -c '.interfaces[0] | {name, mac, mtu, sandbox, pciID}' <<<"$res")" \
    "{\"name\":\"net1\",\"mac\":\"02:00:00:e2:e4:01\",\"mtu\":9000,\"sandbox\":\"/run/netns/s4pod\",\"pciID\":\"$S4_PCI\"}"
  local ip; ip=$(jq -r '.ips[0].address' <<<"$res")
  expect_match "result: one host-local address from the range, on interface 0, and the route" \
    "$(jq -c '[.ips[] | {address, interface}], [.routes[].dst]' <<<"$res" | tr '\n' ' ')" \
    '^\[\{"address":"10\.56\.4\.(1[0-9]|20)/24","interface":0\}\] \["198\.51\.100\.0/24"\] $'
  check "the host no longer has $dev" bash -c "! ip link show $dev"
  local pl; pl=$(ip -n s4pod -j -d addr show dev net1 2>/dev/null)
  expect_eq "pod: net1 is UP with MAC 02:00:00:e2:e4:01, MTU 9000, $ip" \
    "$(jq -c '.[0] | {up: (.flags | index("UP") != null), address, mtu, v4: [.addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"]}' <<<"$pl")" \
    '{"up":true,"address":"02:00:00:e2:e4:01","mtu":9000,"v4":["'"$ip"'"]}'
  expect_eq "pod: net1 is our PCI device (sysfs device link)" \
    "$(ip netns exec s4pod basename "$(ip netns exec s4pod readlink -f /sys/class/net/net1/device/..)")" "$S4_PCI"
  check "pod: route 198.51.100.0/24 via net1" bash -c "ip -n s4pod route show 198.51.100.0/24 | grep -q 'dev net1'"
  expect_eq "pod reaches its hub peer over the NIC (TCP to 10.56.4.200)" "$(tcp_hello s4pod 10.56.4.200 7777 2>&1)" "hello from 10.56.4.200"
  expect_eq "device-info file: type pci, our PCI address" "$(cat "$di" 2>&1)" "{\"type\":\"pci\",\"version\":\"1.1.0\",\"pci\":{\"pci-address\":\"$S4_PCI\"}}"
  expect_eq "host-local holds $ip" "$(ipam_allocs $S4_NET)" "${ip%/*} "
  cni_ok "CHECK passes" CHECK "$c"
  ip -n s4pod link set net1 mtu 1500
  cni_fails "CHECK fails when the pod's MTU was changed behind our back, naming it" CHECK "$c" 'net1 has MTU 1500, expected 9000'
  ip -n s4pod link set net1 mtu 9000
  cni_ok "CHECK passes again once the MTU is back" CHECK "$c"

  section "DEL: the NIC returns to the host as it was"
  cni_ok "DEL succeeds" DEL "$c"
  check "pod: net1 is gone" bash -c "! ip -n s4pod link show net1"
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
  expect_snapshot "host: $dev back with its name, MAC, MTU, up-state, ifindex and addresses (ip -j -d link/addr)" "$link0" link_snapshot "$dev"
  expect_snapshot "host: links, addresses and routes as before ADD" "$host0" netns_snapshot
  expect_eq "host-local released the address" "$(ipam_allocs $S4_NET)" ""
  check "device-info file removed" test ! -e "$di"
  expect_eq "no state or allocation marker left" "$(state_list)" "$state0"
  cni_fails "CHECK after DEL fails" CHECK "$c" 'no attachment'
  cni_ok "a second DEL succeeds" DEL "$c"
  expect_snapshot "host unchanged by the second DEL" "$link0" link_snapshot "$dev"
}

# s4_assert_untouched DEV HOST0 POD0 LINK0 STATE0 DEVINFO DEVINFO-CONTENT LABEL
s4_assert_untouched() {
  local dev=$1 label=$8
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
  expect_snapshot "after $label: $dev exactly as before (ip -j -d link + addresses)" "$4" link_snapshot "$dev"
  expect_snapshot "after $label: host links/addresses/routes as before" "$2" netns_snapshot
  expect_snapshot "after $label: pod netns as before (only lo)" "$3" netns_snapshot s4pod
  expect_eq "after $label: no attachment state or allocation marker left" "$(state_list)" "$5"
  expect_eq "after $label: no IP left allocated in host-local" "$(ipam_allocs $S4_NET)" ""
  expect_eq "after $label: the device plugin's device-info file is as Multus left it" "$(cat "$6" 2>&1)" "$7"
}

cleanup_s4_kernel_netdev() {
  stop_bg
  ip netns del s4pod 2>/dev/null
  local peer; peer=$(ip -n s4peer -j link show 2>/dev/null | jq -r '.[] | select(.ifname != "lo") | .ifname' | head -1)
  [ -n "$peer" ] && ip -n s4peer link set "$peer" down && ip -n s4peer link set "$peer" netns 1
  ip netns del s4peer 2>/dev/null
  local d; d=$(netdev_of $S4_PCI); [ -n "$d" ] && ip link set "$d" down
}
