# shellcheck shell=bash
# Scenario 6 — DEL tolerates what runtimes and nodes really do before it comes, on real objects:
#   a. the pod's netns was deleted first: the kernel hands the physical netdev back to the host
#      (under its pod name, with the pod's MAC/MTU); DEL with the dead CNI_NETNS path, and again
#      with an empty CNI_NETNS, restores its name/MAC/MTU/up-state and releases the IP
#   b. the DPDK device was unbound from vfio-pci before DEL
#   c. the DPDK device was removed from the PCI bus (hot-unplug) before DEL
#   d. the attachment's state file was removed before DEL
# Every DEL must succeed and leave no state, no marker, no device-info file, no IP allocation, and
# the device usable by the next pod.

S6_KPCI=0000:00:13.0
S6_DPCI=0000:00:10.0
S6_NET=e2e-tol

s6_ipam() { echo "{ipam: {type: \"host-local\", ranges: [[{subnet: \"10.56.6.0/24\", rangeStart: \"10.56.6.10\", rangeEnd: \"10.56.6.50\"}]]}}"; }

# s6_netns_gone LABEL DEL-NETNS — ADD the kernel NIC, delete the pod netns, DEL with DEL-NETNS
s6_netns_gone() {
  local label=$1 delns=$2 dev link0 state0
  dev=$(netdev_of $S6_KPCI)
  check "$S6_KPCI has its host netdev ($dev)" test -n "$dev"
  [ -n "$dev" ] || return
  ip link set "$dev" up
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
  link0=$(link_snapshot "$dev"); state0=$(state_list)
  ip netns add s6pod && ip -n s6pod link set lo up
  CID=e2e-s6-$label NETNS=/run/netns/s6pod IFNAME=net1 ROOT=""
  local di c; di=$(devinfo_path $S6_NET $CID net1)
  c=$(conf $S6_NET $S6_KPCI "{mtu: 9000, mac: \"02:00:00:e2:e6:01\", runtimeConfig: {CNIDeviceInfoFile: \"$di\"}} + $(s6_ipam)")
  cni_ok "ADD $S6_KPCI into the pod" ADD "$c"
  check "ip netns del s6pod (the runtime tore the sandbox down first)" ip netns del s6pod
  # the kernel moves a physical netdev of a dying netns back to the host, asynchronously
  wait_for 20 test -n "$(netdev_of $S6_KPCI)"
  local back; back=$(netdev_of $S6_KPCI)
  expect_eq "the kernel returned the NIC to the host as '$back' with the pod's MAC and MTU" \
    "$(ip -j link show dev "$back" 2>&1 | jq -c '.[0] | [.address, .mtu]')" '["02:00:00:e2:e6:01",9000]'
  NETNS=$delns
  cni_ok "DEL with CNI_NETNS='$delns' succeeds" DEL "$c"
  wait_for 15 bash -c "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
  expect_snapshot "host: $dev back with its own name, MAC, MTU and up-state (ip -j -d link + addresses)" "$link0" link_snapshot "$dev"
  expect_eq "host-local released the address" "$(ipam_allocs $S6_NET)" ""
  check "device-info file removed" test ! -e "$di"
  expect_eq "no attachment state or allocation marker left" "$(state_list)" "$state0"
  cni_ok "a second DEL succeeds" DEL "$c"
}

# s6_dpdk LABEL — ADD the DPDK NIC (vfio-pci) with IPAM and device-info; globals c, di, state0 out
s6_dpdk_add() {
  CID=e2e-s6-$1 NETNS=/run/netns/s6dpdk IFNAME=net1 ROOT=""
  di=$(devinfo_path $S6_NET $CID net1)
  c=$(conf $S6_NET $S6_DPCI "{runtimeConfig: {CNIDeviceInfoFile: \"$di\"}} + $(s6_ipam)")
  check "$S6_DPCI on vfio-pci" bind_pci $S6_DPCI vfio-pci
  state0=$(state_list)
  cni_ok "ADD $S6_DPCI (DPDK, host-local IP)" ADD "$c"
  expect_match "host-local holds the pod's address" "$(ipam_allocs $S6_NET)" '^10\.56\.6\.[0-9]+ $'
}
s6_dpdk_clean() { # LABEL
  expect_eq "$1: host-local released the address" "$(ipam_allocs $S6_NET)" ""
  expect_eq "$1: no attachment state or allocation marker left" "$(state_list)" "$state0"
}
s6_next_pod() { # the device serves the next pod
  check "$S6_DPCI back on vfio-pci" bind_pci $S6_DPCI vfio-pci
  local keep=$CID; CID=$CID-next
  # the next pod's own device-info file, named as Multus names it for that pod
  local cn; cn=$(conf $S6_NET $S6_DPCI "{runtimeConfig: {CNIDeviceInfoFile: \"$(devinfo_path $S6_NET $CID net1)\"}} + $(s6_ipam)")
  cni_ok "$1: the next pod's ADD of $S6_DPCI succeeds" ADD "$cn"
  cni_ok "$1: and its DEL" DEL "$cn"
  CID=$keep
}

scenario_s6_del_tolerance() {
  section "a. netns deleted before DEL (kernel netdev), DEL with the dead netns path"
  s6_netns_gone gone1 /run/netns/s6pod
  section "a'. the same, DEL with an empty CNI_NETNS"
  s6_netns_gone gone2 ""

  check "load vfio-pci" load_vfio
  ip netns add s6dpdk
  local c di state0
  section "b. DPDK device unbound from vfio-pci before DEL"
  s6_dpdk_add unbound
  check "unbind $S6_DPCI from vfio-pci" bash -c "echo $S6_DPCI > /sys/bus/pci/drivers/vfio-pci/unbind && ! test -e /sys/bus/pci/devices/$S6_DPCI/driver"
  cni_ok "DEL succeeds although the device has no driver" DEL "$c"
  check "device-info file removed" test ! -e "$di"
  s6_dpdk_clean "unbound"
  s6_next_pod "unbound"

  section "c. DPDK device removed from the PCI bus before DEL"
  s6_dpdk_add removed
  check "remove $S6_DPCI from the bus (hot-unplug)" bash -c "echo 1 > /sys/bus/pci/devices/$S6_DPCI/remove && ! test -e /sys/bus/pci/devices/$S6_DPCI"
  cni_ok "DEL succeeds although the device is gone" DEL "$c"
  check "device-info file removed" test ! -e "$di"
  s6_dpdk_clean "removed"
  check "rescan brings $S6_DPCI back" bash -c "echo 1 > /sys/bus/pci/rescan; test -e /sys/bus/pci/devices/$S6_DPCI"
  s6_next_pod "removed"

  section "d. attachment state file removed before DEL"
  s6_dpdk_add nostate
  local sf; sf=$(state_file $S6_NET "$CID" net1)
  check "remove $sf" rm "$sf"
  cni_ok "DEL succeeds without its state" DEL "$c"
  s6_dpdk_clean "no state"
  # the path Multus sends on DEL passes ADD's name rule for this attachment: removed without state
  check "no state: the device-info file Multus names is removed" test ! -e "$di"
  s6_next_pod "no state"
}

cleanup_s6_del_tolerance() {
  ip netns del s6pod 2>/dev/null; ip netns del s6dpdk 2>/dev/null
  # down again as at boot: an up NIC whose hub peer does not receive floods the console with TX timeouts
  local d; d=$(netdev_of $S6_KPCI); [ -n "$d" ] && ip link set "$d" down
}
