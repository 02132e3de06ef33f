# shellcheck shell=bash
# Scenario 1 — DPDK on vfio-pci, PF-less (the AWS ENA shape: a NIC passed through to a VM, no
# SR-IOV PF behind it). The hub-0 pair 0000:00:10.0 + 0000:00:11.0 is bound to vfio-pci, each is
# ADDed (with runtimeConfig.CNIDeviceInfoFile) into a pod, and dpdk-testpmd is started on the PCI
# addresses taken from OUR device-info file and OUR result: both ports must come up and receive.
# Run once with the emulated IOMMU (s1-vfio-iommu) and once in vfio no-IOMMU mode (s1-vfio-noiommu,
# VMH_IOMMU=0 boot).

S1_A=0000:00:10.0
S1_B=0000:00:11.0
S1_NET=e2e-dpdk

scenario_s1_vfio_iommu() { s1_run iommu; }
scenario_s1_vfio_noiommu() { s1_run noiommu; }

s1_run() {
  local want=$1
  expect_eq "guest IOMMU mode is $want" "$IOMMU_MODE" "$want"
  [ "$IOMMU_MODE" = "$want" ] || return
  check "load vfio-pci ($IOMMU_MODE)" load_vfio
  [ "$want" = noiommu ] && expect_eq "vfio no-IOMMU mode is on" "$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)" Y
  local pci
  for pci in $S1_A $S1_B; do
    check "bind $pci to vfio-pci" bind_pci $pci vfio-pci
    local g; g=$(basename "$(readlink /sys/bus/pci/devices/$pci/iommu_group)")
    local node=/dev/vfio/$g; [ "$want" = noiommu ] && node=/dev/vfio/noiommu-$g
    check "$pci has its vfio group node $node" test -c "$node"
  done
  check "256 hugepages for testpmd" hugepages 256
  ip netns add s1pod && ip -n s1pod link set lo up

  CID=e2e-s1-$want NETNS=/run/netns/s1pod
  local diA diB cA cB resA resB
  diA=$(devinfo_path $S1_NET $CID net1); diB=$(devinfo_path $S1_NET $CID net2)
  cA=$(conf $S1_NET $S1_A "{runtimeConfig: {CNIDeviceInfoFile: \"$diA\"}}")
  cB=$(conf $S1_NET $S1_B "{runtimeConfig: {CNIDeviceInfoFile: \"$diB\"}}")
  local state0; state0=$(state_list)

  section "ADD both NICs"
  IFNAME=net1; cni_ok "ADD $S1_A as net1" ADD "$cA"; resA=$CNI_OUT
  IFNAME=net2; cni_ok "ADD $S1_B as net2" ADD "$cB"; resB=$CNI_OUT
  expect_eq "result net1: cniVersion 1.1.0, one interface in the pod sandbox with pciID $S1_A, no IPs" \
    "$(jq -c '{cniVersion, n: (.interfaces | length), name: .interfaces[0].name, sandbox: .interfaces[0].sandbox, pciID: .interfaces[0].pciID, ips: (.ips // [])}' <<<"$resA")" \
    "{\"cniVersion\":\"1.1.0\",\"n\":1,\"name\":\"net1\",\"sandbox\":\"/run/netns/s1pod\",\"pciID\":\"$S1_A\",\"ips\":[]}"
  expect_eq "device-info net1 (Device-Info 1.1.0, byte-exact, no pf-pci-address: there is no PF)" \
    "$(cat "$diA" 2>&1)" "{\"type\":\"pci\",\"version\":\"1.1.0\",\"pci\":{\"pci-address\":\"$S1_A\"}}"
  expect_eq "device-info net2" "$(cat "$diB" 2>&1)" "{\"type\":\"pci\",\"version\":\"1.1.0\",\"pci\":{\"pci-address\":\"$S1_B\"}}"
  expect_eq "device-info files are read-only (0444), as Multus' helpers write them" "$(stat -c %a "$diA" "$diB" | tr '\n' ' ')" "444 444 "
  expect_eq "state on disk: both attachments and both allocation markers" "$(state_list)" \
    "${state0}attachments/$S1_NET@$CID@net1.json attachments/$S1_NET@$CID@net2.json devices/$S1_A.json devices/$S1_B.json "
  ip netns add s1other
  CID=e2e-s1-$want-other NETNS=/run/netns/s1other IFNAME=net1
  local diO; diO=$(devinfo_path $S1_NET $CID net1)
  cni_fails "ADD of $S1_A to a second live pod is refused (device busy)" ADD \
    "$(conf $S1_NET $S1_A "{runtimeConfig: {CNIDeviceInfoFile: \"$diO\"}}")" "already allocated to container e2e-s1-$want "
  check "the refused pod got no device-info file" test ! -e "$diO"
  expect_eq "the refused ADD left the first pod's device-info and state alone" "$(cat "$diA" 2>&1) $(state_list)" \
    "{\"type\":\"pci\",\"version\":\"1.1.0\",\"pci\":{\"pci-address\":\"$S1_A\"}} ${state0}attachments/$S1_NET@e2e-s1-$want@net1.json attachments/$S1_NET@e2e-s1-$want@net2.json devices/$S1_A.json devices/$S1_B.json "
  ip netns del s1other
  CID=e2e-s1-$want NETNS=/run/netns/s1pod
  IFNAME=net1; cni_ok "CHECK net1 passes" CHECK "$cA"
  IFNAME=net2; cni_ok "CHECK net2 passes" CHECK "$cB"

  section "dpdk-testpmd on the addresses a pod learns from us"
  # port 0 from the device-info file (what app-netutil reads), port 1 from the CNI result
  local pA pB
  pA=$(jq -r '.pci["pci-address"]' "$diA"); pB=$(jq -r '.interfaces[0].pciID' <<<"$resB")
  expect_eq "addresses from device-info ($pA) and result ($pB) are the hub-0 pair" "$pA $pB" "$S1_A $S1_B"
  local log=$VMH_RUN/testpmd-s1-$want.log
  run_testpmd "$log" 8 --file-prefix s1$want -a "$pA" -a "$pB"
  check "testpmd: Port 0 Link up" grep -q 'Port 0 Link up' "$log"
  check "testpmd: Port 1 Link up" grep -q 'Port 1 Link up' "$log"
  local counts; counts=$(testpmd_counts "$log")
  echo "       final counters: $counts"
  check "testpmd: both ports received packets (RX > 0)" jq -e '.["0"].rx > 0 and .["1"].rx > 0' <<<"$counts"

  section "CHECK notices a driver change behind our back"
  check "rebind $S1_B to virtio-pci" bind_virtio $S1_B
  IFNAME=net2; cni_fails "CHECK net2 fails and names the driver" CHECK "$cB" "bound to virtio-pci, expected vfio-pci"
  check "rebind $S1_B to vfio-pci" bind_pci $S1_B vfio-pci
  cni_ok "CHECK net2 passes again" CHECK "$cB"

  section "DEL"
  IFNAME=net1; cni_ok "DEL net1" DEL "$cA"
  IFNAME=net2; cni_ok "DEL net2" DEL "$cB"
  check "device-info files removed" bash -c "! test -e '$diA' && ! test -e '$diB'"
  expect_eq "no attachment state or allocation marker left" "$(state_list)" "$state0"
  expect_eq "both NICs are still on vfio-pci (DEL does not rebind)" "$(driver_of $S1_A) $(driver_of $S1_B)" "vfio-pci vfio-pci"
  IFNAME=net1; cni_fails "CHECK net1 after DEL fails" CHECK "$cA" 'no attachment'
  IFNAME=net2; cni_fails "CHECK net2 after DEL fails" CHECK "$cB" 'no attachment'
  IFNAME=net1; cni_ok "a second DEL of net1 succeeds" DEL "$cA"
  IFNAME=net2; cni_ok "a second DEL of net2 succeeds" DEL "$cB"

  section "the NIC is free for the next pod"
  CID=e2e-s1-$want-next IFNAME=net1
  local cN; cN=$(conf $S1_NET $S1_A "{runtimeConfig: {CNIDeviceInfoFile: \"$(devinfo_path $S1_NET $CID net1)\"}}")
  cni_ok "ADD $S1_A to another pod succeeds (no stale allocation)" ADD "$cN"
  cni_ok "DEL it" DEL "$cN"
  expect_eq "no attachment state or allocation marker left" "$(state_list)" "$state0"
}

cleanup_s1_vfio_iommu() { ip netns del s1pod 2>/dev/null; ip netns del s1other 2>/dev/null; }
cleanup_s1_vfio_noiommu() { ip netns del s1pod 2>/dev/null; ip netns del s1other 2>/dev/null; }
