# shellcheck shell=bash
# Scenario 3 — virtio-vdpa: vdpa0 on NIC 0000:00:12.0 (vp-vdpa) bound to virtio_vdpa gives a kernel
# virtio-net netdev; ADD moves it into the pod as CNI_IFNAME with the MAC, MTU and host-local IP
# asked for (it reaches the hub peer 0000:00:13.0 over the vDPA datapath), and DEL returns it to the
# host with its original name, MAC and MTU.

S3_NET=e2e-virtio

scenario_s3_virtio_vdpa() {
  s2_setup
  check "modprobe virtio_vdpa" modprobe virtio_vdpa
  if [ "$(vdpa_driver vdpa0)" != virtio_vdpa ]; then
    check "rebind vdpa0 to virtio_vdpa" bash -c 'echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind; echo virtio_vdpa > /sys/bus/vdpa/devices/vdpa0/driver_override && echo vdpa0 > /sys/bus/vdpa/drivers_probe'
  fi
  expect_eq "vdpa0 is bound to virtio_vdpa" "$(vdpa_driver vdpa0)" virtio_vdpa
  wait_for 5 test -n "$(netdev_of $S2_PCI)"
  local dev; dev=$(netdev_of $S2_PCI)
  check "virtio_vdpa netdev under $S2_PCI ($dev)" test -n "$dev"
  [ -n "$dev" ] || return
  ip link set "$dev" up
  local peer; peer=$(netdev_of $S2_PEER)
  ip netns add s3peer && ip link set "$peer" netns s3peer && ip -n s3peer addr add 10.56.3.200/24 dev "$peer" && ip -n s3peer link set "$peer" up
  tcp_server s3peer 10.56.3.200 7777
  ip netns add s3pod && ip -n s3pod link set lo up
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
  local link0 host0 state0; link0=$(link_snapshot "$dev"); host0=$(netns_snapshot); state0=$(state_list)
  local mac0; mac0=$(jq -r .address <<<"$link0")

  CID=e2e-s3-0001 NETNS=/run/netns/s3pod IFNAME=net1
  local di c; di=$(devinfo_path $S3_NET $CID net1)
  c=$(conf $S3_NET $S2_PCI "{mtu: 9000, mac: \"02:00:00:e2:e3:01\", runtimeConfig: {CNIDeviceInfoFile: \"$di\"},
       ipam: {type: \"host-local\", ranges: [[{subnet: \"10.56.3.0/24\", rangeStart: \"10.56.3.10\", rangeEnd: \"10.56.3.20\"}]]}}")

  section "ADD: the virtio netdev becomes the pod's net1"
  cni_ok "ADD $S2_PCI (virtio-vdpa)" ADD "$c"
  local res=$CNI_OUT ip; ip=$(jq -r '.ips[0].address' <<<"$res")
  expect_eq "result: net1 in the pod with the MAC and MTU asked for" "$(jq -c '.interfaces[0] | {name, mac, mtu, sandbox, pciID}' <<<"$res")" \
    "{\"name\":\"net1\",\"mac\":\"02:00:00:e2:e3:01\",\"mtu\":9000,\"sandbox\":\"/run/netns/s3pod\",\"pciID\":\"$S2_PCI\"}"
  expect_match "result: a host-local address" "$ip" '^10\.56\.3\.(1[0-9]|20)/24$'
  check "the host no longer has $dev" bash -c "! ip link show $dev"
  expect_eq "pod: net1 is UP with MAC 02:00:00:e2:e3:01, MTU 9000, $ip" \
    "$(ip -n s3pod -j addr show dev net1 | jq -c '.[0] | {up: (.flags | index("UP") != null), address, mtu, v4: [.addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"]}')" \
    "{\"up\":true,\"address\":\"02:00:00:e2:e3:01\",\"mtu\":9000,\"v4\":[\"$ip\"]}"
  expect_eq "pod: net1 is the virtio device of our vDPA function" \
    "$(ip netns exec s3pod readlink -f /sys/class/net/net1/device | grep -o "$S2_PCI/virtio[0-9]*" | cut -d/ -f1)" "$S2_PCI"
  expect_eq "pod reaches the hub peer over the vDPA datapath (TCP to 10.56.3.200)" "$(tcp_hello s3pod 10.56.3.200 7777 2>&1)" "hello from 10.56.3.200"
  expect_eq "device-info: type vdpa, driver virtio, no path" "$(cat "$di" 2>&1)" \
    "{\"type\":\"vdpa\",\"version\":\"1.1.0\",\"vdpa\":{\"parent-device\":\"vdpa0\",\"driver\":\"virtio\",\"pci-address\":\"$S2_PCI\"}}"
  cni_ok "CHECK passes" CHECK "$c"

  section "DEL: back to the host with its own name, MAC and MTU"
  cni_ok "DEL succeeds" DEL "$c"
  check "pod: net1 is gone" bash -c "! ip -n s3pod link show net1"
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
  expect_eq "host: $dev is back with MAC $mac0 and MTU 1500" "$(ip -j link show dev "$dev" 2>&1 | jq -c '.[0] | [.ifname, .address, .mtu]')" "[\"$dev\",\"$mac0\",1500]"
  expect_snapshot "host: $dev exactly as before (ip -j -d link + addresses)" "$link0" link_snapshot "$dev"
  expect_snapshot "host: links, addresses and routes as before ADD" "$host0" netns_snapshot
  expect_eq "host-local released the address" "$(ipam_allocs $S3_NET)" ""
  check "device-info file removed" test ! -e "$di"
  expect_eq "no attachment state or allocation marker left" "$(state_list)" "$state0"
  cni_fails "CHECK after DEL fails" CHECK "$c" 'no attachment'
  cni_ok "a second DEL succeeds" DEL "$c"
}

cleanup_s3_virtio_vdpa() {
  stop_bg
  ip netns del s3pod 2>/dev/null
  local p; p=$(ip -n s3peer -j link show 2>/dev/null | jq -r '.[] | select(.ifname != "lo") | .ifname' | head -1)
  [ -n "$p" ] && ip -n s3peer link set "$p" down && ip -n s3peer link set "$p" netns 1
  ip netns del s3peer 2>/dev/null
  local d; d=$(netdev_of $S2_PCI); [ -n "$d" ] && ip link set "$d" down
}
