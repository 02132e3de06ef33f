#!/usr/bin/env bash
# Smoke test of the e2e guest. Run it INSIDE the guest:
#   test/e2e/vm/vm-run.sh test/e2e/vm/checks/smoke.sh            # vIOMMU  -> /dev/vfio/N
#   VMH_IOMMU=0 test/e2e/vm/vm-run.sh test/e2e/vm/checks/smoke.sh # no-IOMMU -> /dev/vfio/noiommu-N
# Optional args: the sections to run (default all, in this order):
#   node netns vdpa netdevsim vfio testpmd
# Needs 4 NICs (VMH_NICS=4, the default). testpmd reserves 256 hugepages itself
# unless they are there already. Exits non-zero if any check fails.
set -uo pipefail

if [ "${VMH_GUEST:-0}" != 1 ]; then
  echo "smoke.sh: refusing to run outside the vm-run.sh guest (it rebinds PCI devices)" >&2
  exit 2
fi

# ok, bad, check, section, netdev_of, driver_of
. "$(dirname "$0")/lib.sh"
# bind_pci <addr> <driver>: unbind from the current driver, driver_override + drivers_probe
bind_pci() {
  local a=$1 drv=$2
  [ -e /sys/bus/pci/devices/"$a"/driver ] && echo "$a" >/sys/bus/pci/devices/"$a"/driver/unbind
  echo "$drv" >/sys/bus/pci/devices/"$a"/driver_override
  echo "$a" >/sys/bus/pci/drivers_probe
  [ "$(driver_of "$a")" = "$drv" ] || { echo "$a is bound to '$(driver_of "$a")', not $drv"; return 1; }
}
iommu_group_of() { basename "$(readlink /sys/bus/pci/devices/"$1"/iommu_group)"; }
if [ -n "$(ls /sys/class/iommu 2>/dev/null)" ]; then MODE=iommu; else MODE=noiommu; fi
echo "smoke: kernel $(uname -r), mode $MODE, VMH_IOMMU=${VMH_IOMMU:-?}, NICs: $(for a in /sys/bus/pci/devices/0000:00:1[0-3].0; do printf '%s=%s ' "${a##*/}" "$(netdev_of "${a##*/}")"; done)"

SECTIONS=("$@")
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(node netns vdpa netdevsim vfio testpmd)

# ---------------------------------------------------------------- node
s_node() {
  section node
  check "node runs" bash -c '[ "$(node -e "console.log(6*7)")" = 42 ]'
  check "node --version is v20+" bash -c 'v=$(node --version); echo "$v"; [ "${v#v}" != "$v" ] && [ "$(echo "${v#v}" | cut -d. -f1)" -ge 20 ]'
}

# ---------------------------------------------------------------- netns
s_netns() {
  section netns
  local pci=0000:00:13.0 dev; dev=$(netdev_of $pci)
  check "NIC $pci has a netdev ($dev)" test -n "$dev"
  [ -n "$dev" ] || return
  check "ip netns add smoke" ip netns add smoke
  check "/run/netns/smoke exists" test -e /run/netns/smoke
  check "move $dev into netns" ip link set "$dev" netns smoke
  check "$dev gone from the root netns" bash -c "! ip link show $dev"
  check "rename $dev -> net1 in netns" ip -n smoke link set "$dev" name net1
  check "mtu 9000 + up in netns" ip -n smoke link set net1 mtu 9000 up
  check "mtu reads back 9000" bash -c '[ "$(ip -n smoke -j link show net1 | node -pe "JSON.parse(require(\"fs\").readFileSync(0))[0].mtu")" = 9000 ]'
  check "vlan on top of net1 in netns" ip -n smoke link add link net1 name net1.100 type vlan id 100
  check "address add in netns" ip -n smoke addr add 192.0.2.1/24 dev net1
  check "PCI address still reachable from net1" bash -c "ip netns exec smoke readlink -f /sys/class/net/net1/device | grep -q $pci"
  check "dummy link + move into netns" bash -c 'ip link add smokedummy type dummy && ip link set smokedummy netns smoke && ip -n smoke link show smokedummy'
  ip -n smoke link del net1.100 2>/dev/null
  check "move net1 back (down, mtu 1500, rename $dev)" bash -c "ip -n smoke link set net1 down && ip -n smoke link set net1 mtu 1500 && ip -n smoke link set net1 netns 1 && ip link set net1 name $dev"
  check "$dev back in the root netns with mtu 1500" bash -c "ip link show $dev | grep -q 'mtu 1500'"
  check "ip netns del smoke" ip netns del smoke
}

# ---------------------------------------------------------------- vdpa (vp_vdpa)
s_vdpa() {
  section vdpa
  local pci=0000:00:12.0
  check "modprobe vdpa vhost_vdpa vp_vdpa" modprobe -a vdpa vhost_vdpa vp_vdpa
  check "bind $pci to vp-vdpa" bind_pci $pci vp-vdpa
  check "vdpa mgmtdev show lists pci/$pci" bash -c "vdpa mgmtdev show | grep -q 'pci/$pci'"
  check "vdpa dev add name vdpa0 mgmtdev pci/$pci" vdpa dev add name vdpa0 mgmtdev pci/$pci
  check "vdpa0 is under the PCI device" test -d /sys/bus/pci/devices/$pci/vdpa0
  check "vdpa0 bound to vhost_vdpa" bash -c '[ "$(basename "$(readlink /sys/bus/vdpa/devices/vdpa0/driver)")" = vhost_vdpa ]'
  check "/dev/vhost-vdpa-0 is a char device" test -c /dev/vhost-vdpa-0
  check "sysfs vdpa0/vhost-vdpa-0 exists" test -d /sys/bus/vdpa/devices/vdpa0/vhost-vdpa-0
  check "vdpa -j dev show has vdpa0 on pci/$pci" bash -c "vdpa -j dev show | grep -q '\"vdpa0\":{\"type\":\"network\",\"mgmtdev\":\"pci/$pci\"'"
  # switch the vdpa device to virtio_vdpa: a kernel netdev appears under the PCI function
  check "modprobe virtio_vdpa" modprobe virtio_vdpa
  check "rebind vdpa0 to virtio_vdpa" bash -c 'echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind && echo virtio_vdpa > /sys/bus/vdpa/devices/vdpa0/driver_override && echo vdpa0 > /sys/bus/vdpa/drivers_probe && [ "$(basename "$(readlink /sys/bus/vdpa/devices/vdpa0/driver)")" = virtio_vdpa ]'
  check "virtio_vdpa netdev with MAC 52:54:00:00:00:03" bash -c "n=\$(ls /sys/bus/pci/devices/$pci/virtio*/net/ | head -1); [ -n \"\$n\" ] && grep -q 52:54:00:00:00:03 /sys/class/net/\$n/address"
  check "vdpa dev del vdpa0" vdpa dev del vdpa0
  check "/dev/vhost-vdpa-0 gone" bash -c '! test -e /dev/vhost-vdpa-0'
}

# ---------------------------------------------------------------- netdevsim SR-IOV
s_netdevsim() {
  section netdevsim
  check "modprobe netdevsim" modprobe netdevsim
  check 'echo "10 1" > /sys/bus/netdevsim/new_device' bash -c 'echo "10 1" > /sys/bus/netdevsim/new_device'
  local pf=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do pf=$(ls /sys/bus/netdevsim/devices/netdevsim10/net/ 2>/dev/null | head -1); [ -n "$pf" ] && break; sleep 0.2; done
  check "netdevsim10 has a PF netdev ($pf)" test -n "$pf"
  [ -n "$pf" ] || return
  check "4 VFs via sriov_numvfs" bash -c 'echo 4 > /sys/bus/netdevsim/devices/netdevsim10/sriov_numvfs && [ "$(cat /sys/bus/netdevsim/devices/netdevsim10/sriov_numvfs)" = 4 ]'
  check "ip link set $pf vf 0 vlan 100 qos 3" ip link set "$pf" vf 0 vlan 100 qos 3
  check "ip link set $pf vf 0 mac 02:00:00:00:00:10 spoofchk off trust on" ip link set "$pf" vf 0 mac 02:00:00:00:00:10 spoofchk off trust on
  check "ip link set $pf vf 1 vlan 200 proto 802.1ad" ip link set "$pf" vf 1 vlan 200 proto 802.1ad
  check "ip -j -d link show: 4 VFs, vf 0 vlan 100 qos 3, mac, spoofchk off, trust on; vf 1 802.1ad" node -e '
    const j = JSON.parse(require("child_process").execFileSync("ip", ["-j", "-d", "link", "show", process.argv[1]]))[0];
    const v = j.vfinfo_list || [];
    const a = require("assert");
    a.strictEqual(v.length, 4, "vf count");
    a.deepStrictEqual(v[0].vlan_list, [{ vlan: 100, qos: 3 }]);
    a.strictEqual(v[0].address, "02:00:00:00:00:10");
    a.strictEqual(v[0].spoofchk, false);
    a.strictEqual(v[0].trust, true);
    a.deepStrictEqual(v[1].vlan_list, [{ vlan: 200, protocol: "802.1ad" }]);
    a.strictEqual(j.parentbus, "netdevsim");
  ' "$pf"
  check "devlink dev show lists netdevsim/netdevsim10" bash -c 'devlink dev show | grep -q netdevsim/netdevsim10'
  check "delete netdevsim10" bash -c 'echo 10 > /sys/bus/netdevsim/del_device'
}

# ---------------------------------------------------------------- vfio-pci
VFIO_LOADED=0
load_vfio() {
  [ $VFIO_LOADED = 1 ] && return 0
  if [ $MODE = noiommu ]; then
    check "modprobe vfio enable_unsafe_noiommu_mode=1" modprobe vfio enable_unsafe_noiommu_mode=1
    check "noiommu mode is on" bash -c '[ "$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)" = Y ]'
  fi
  check "modprobe vfio-pci" modprobe vfio-pci
  VFIO_LOADED=1
}
# vfio_dev_of <pci>: the /dev/vfio node a bound device must have
vfio_dev_of() {
  local g; g=$(iommu_group_of "$1") || return 1
  if [ $MODE = noiommu ]; then echo "/dev/vfio/noiommu-$g"; else echo "/dev/vfio/$g"; fi
}
s_vfio() {
  section "vfio ($MODE)"
  load_vfio
  local pci
  for pci in 0000:00:10.0 0000:00:11.0; do
    check "bind $pci to vfio-pci (driver_override + drivers_probe)" bind_pci $pci vfio-pci
    check "$pci has an iommu_group ($(iommu_group_of $pci 2>/dev/null))" test -e /sys/bus/pci/devices/$pci/iommu_group
    local node; node=$(vfio_dev_of $pci)
    check "$pci -> $node is a char device" test -c "$node"
  done
  check "/dev/vfio/vfio exists" test -c /dev/vfio/vfio
  echo "       /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"
}

# ---------------------------------------------------------------- dpdk-testpmd
s_testpmd() {
  section "testpmd ($MODE)"
  load_vfio
  local pci
  for pci in 0000:00:10.0 0000:00:11.0; do
    [ "$(driver_of $pci)" = vfio-pci ] || check "bind $pci to vfio-pci" bind_pci $pci vfio-pci
  done
  local hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  [ "$(cat $hp)" -ge 256 ] || echo 256 >$hp
  check "256 hugepages of 2M ($(cat $hp))" test "$(cat $hp)" -ge 256
  check "dpdk-testpmd is installed" command -v dpdk-testpmd
  local log=${VMH_RUN:-/tmp}/testpmd-$MODE.log
  timeout -s INT -k 10 12 dpdk-testpmd -l 0-1 -n 1 --file-prefix vmh -a 0000:00:10.0 -a 0000:00:11.0 -- \
    --auto-start --tx-first --forward-mode=io --stats-period 2 --nb-cores=1 --txd=256 --rxd=256 >"$log" 2>&1 </dev/null
  echo "       testpmd exit $? (124 = stopped by timeout, expected); log: $log"
  check "testpmd: Port 0 Link up" grep -q 'Port 0 Link up' "$log"
  check "testpmd: Port 1 Link up" grep -q 'Port 1 Link up' "$log"
  check "testpmd: non-zero RX on both ports" node -e '
    const t = require("fs").readFileSync(process.argv[1], "utf8");
    // final per-port statistics: "---- Forward statistics for port N ----" then "RX-packets: X"
    const re = /Forward statistics for port (\d+)[\s\S]*?RX-packets:\s*(\d+)/g;
    const rx = {}; let m;
    while ((m = re.exec(t))) rx[m[1]] = Number(m[2]);
    console.log(JSON.stringify(rx));
    if (!(rx[0] > 0 && rx[1] > 0)) process.exit(1);
  ' "$log"
  grep -E 'Port [01] Link up' "$log" | sed 's/^/       /'
  grep -A1 'Forward statistics for port' "$log" | grep -o 'RX-packets: *[0-9]*' | sed 's/^/       final /'
}

for s in "${SECTIONS[@]}"; do
  declare -F "s_$s" >/dev/null || { bad "unknown section $s"; continue; }
  "s_$s"
done

echo "smoke mode: $MODE"
echo "smoke: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
