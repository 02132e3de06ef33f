#!/usr/bin/env bash
# `dpdk-cni node apply` and `dpdk-cni reap` against the REAL kernel of the e2e guest:
#   test/e2e/vm/vm-run.sh test/e2e/vm/checks/apply.sh             # emulated intel-iommu
#   VMH_IOMMU=0 test/e2e/vm/vm-run.sh test/e2e/vm/checks/apply.sh # no IOMMU (the AWS EC2 shape)
# One node file puts 0000:00:10.0 (by address) and 0000:00:11.0 (by MAC) on vfio-pci, 4 VFs on a
# netdevsim PF, 0000:00:13.0 on vp-vdpa with vdpa0 on vhost_vdpa, and merges two resources into
# an existing /etc/pcidp/config.json; a second apply changes nothing. Then: a device the host uses
# is refused, a file with errors changes nothing, a vDPA device moves to virtio_vdpa, and reap
# releases a DPDK attachment whose netns is gone. Runs the shipped executable (npm run build first).
# Exits non-zero if any check fails. Give it VMH_TIMEOUT=900 (each tool start costs seconds under TCG).
set -uo pipefail

if [ "${VMH_GUEST:-0}" != 1 ]; then
  echo "apply.sh: refusing to run outside the vm-run.sh guest (it rebinds PCI devices)" >&2
  exit 2
fi
REPO=$(cd "$(dirname "$0")/../../../.." && pwd)
BIN=${DPDK_CNI_BIN:-$REPO/dist/dpdk-cni-linux-x64}   # the shipped executable
[ -x "$BIN" ] || { echo "apply.sh: $BIN missing: run npm run build on the host first" >&2; exit 2; }
OUT=${VMH_RUN:-/tmp}

# ok, bad, check, section, netdev_of, driver_of, T, expect_rc, has, show
. "$(dirname "$0")/lib.sh"
if [ -n "$(ls /sys/class/iommu 2>/dev/null)" ]; then MODE=iommu; else MODE=noiommu; fi
echo "apply: kernel $(uname -r), mode $MODE, binary $BIN"

# ------------------------------------------------------------ the node before
section "a node to prepare ($MODE)"
check "modprobe netdevsim vdpa vhost_vdpa virtio_vdpa" modprobe -a netdevsim vdpa vhost_vdpa virtio_vdpa
check 'netdevsim device 11 with one port' bash -c 'echo "11 1" > /sys/bus/netdevsim/new_device'
for _ in 1 2 3 4 5 6 7 8 9 10; do NSIM=$(ls /sys/bus/netdevsim/devices/netdevsim11/net/ 2>/dev/null | head -1); [ -n "$NSIM" ] && break; sleep 0.2; done
check "netdevsim11 has a PF netdev ($NSIM)" test -n "$NSIM"
MAC11=$(cat /sys/class/net/"$(netdev_of 0000:00:11.0)"/address)
check "0000:00:11.0 has a MAC ($MAC11)" test -n "$MAC11"
check "an existing device plugin config with another resource" bash -c 'mkdir -p /etc/pcidp && echo "{\"resourceList\":[{\"resourcePrefix\":\"example.com\",\"resourceName\":\"kept\",\"selectors\":[{\"drivers\":[\"igb_uio\"]}]}]}" > /etc/pcidp/config.json'
NOIOMMU=false; [ $MODE = noiommu ] && NOIOMMU=true
NODEFILE=$OUT/node-$MODE.json
cat >"$NODEFILE" <<EOF
{
  "noIommu": $NOIOMMU,
  "vfs": [{ "pf": "$NSIM", "count": 4 }],
  "drivers": [
    { "driver": "vfio-pci", "pci": ["0000:00:10.0"] },
    { "driver": "vfio-pci", "mac": ["$MAC11"] },
    { "driver": "vp-vdpa", "pci": ["0000:00:13.0"] }
  ],
  "vdpa": [{ "name": "vdpa0", "mgmtdev": "pci/0000:00:13.0", "driver": "vhost_vdpa" }],
  "devicePlugin": {
    "resourceList": [
      { "resourceName": "example.com/virtio_dpdk", "selectors": [{ "vendors": ["1af4"], "devices": ["1041"], "drivers": ["vfio-pci"] }] },
      { "resourceName": "example.com/vdpa", "selectors": [{ "vdpaType": "vhost" }] }
    ]
  }
}
EOF
sed 's/^/       | /' "$NODEFILE"

# ------------------------------------------------------------ dry run, apply, apply again
section "node apply ($MODE)"
expect_rc 0 "node apply --dry-run" node apply -f "$NODEFILE" --dry-run
show
check "  ...says what it would change" has 'dry run:'
check "  ...and changes nothing: 0000:00:10.0 still on virtio-pci" test "$(driver_of 0000:00:10.0)" = virtio-pci
check "  ...no VFs yet" test "$(cat /sys/bus/netdevsim/devices/netdevsim11/sriov_numvfs)" = 0
expect_rc 0 "node apply" node apply -f "$NODEFILE"
show
check "0000:00:10.0 is on vfio-pci" test "$(driver_of 0000:00:10.0)" = vfio-pci
check "0000:00:11.0 (chosen by MAC) is on vfio-pci" test "$(driver_of 0000:00:11.0)" = vfio-pci
check "0000:00:13.0 is on vp-vdpa" test "$(driver_of 0000:00:13.0)" = vp-vdpa
check "vdpa0 is on vhost_vdpa with /dev/vhost-vdpa-0" bash -c '[ "$(basename "$(readlink /sys/bus/vdpa/devices/vdpa0/driver)")" = vhost_vdpa ] && test -c /dev/vhost-vdpa-0'
check "$NSIM has 4 VFs" test "$(cat /sys/bus/netdevsim/devices/netdevsim11/sriov_numvfs)" = 4
if [ $MODE = noiommu ]; then check "no-IOMMU mode is on" grep -qx Y /sys/module/vfio/parameters/enable_unsafe_noiommu_mode; fi
check "config.json has the kept resource and both new ones" node -e '
  const c = JSON.parse(require("fs").readFileSync("/etc/pcidp/config.json", "utf8"));
  const n = c.resourceList.map((r) => `${r.resourcePrefix}/${r.resourceName}`);
  require("assert").deepStrictEqual(n, ["example.com/kept", "example.com/virtio_dpdk", "example.com/vdpa"]);'
expect_rc 0 "node apply again" node apply -f "$NODEFILE"
check "  ...changes nothing and says so" has 'nothing to change: the node is as'
T dp-config --check
# the resource planted before apply (igb_uio, nothing on it here) fails on its own; the two apply wrote pass
check "dp-config --check: both resources apply wrote pass on the applied node" bash -c 'grep -q "PASS  example.com/virtio_dpdk: 2 device" <<<"$0" && grep -q "PASS  example.com/vdpa: 1 device" <<<"$0"' "$TOUT"
show

# ------------------------------------------------------------ refusals and errors change nothing
section "refusals ($MODE)"
ND=$(netdev_of 0000:00:12.0)
check "$ND up with 192.0.2.12/24" bash -c "ip addr add 192.0.2.12/24 dev $ND && ip link set $ND up"
echo '{ "vfs": [{ "pf": "'"$NSIM"'", "count": 2 }], "drivers": [{ "driver": "vfio-pci", "pci": ["0000:00:12.0"] }] }' >"$OUT/inuse.json"
expect_rc 1 "a node file rebinding a NIC the host uses is refused" node apply -f "$OUT/inuse.json"
check "  ...naming the address" has "$ND is up with addresses 192.0.2.12/24"
check "  ...the NIC keeps its driver" test "$(driver_of 0000:00:12.0)" = virtio-pci
check "  ...and the other step did not run either: still 4 VFs" test "$(cat /sys/bus/netdevsim/devices/netdevsim11/sriov_numvfs)" = 4
echo '{ "drivers": [{ "driver": "vfio-pci", "pci": ["0000:00:12.0"], "mac": ["02:00:00:00:00:01"] }], "vdpa": [{ "name": "x" }] }' >"$OUT/bad.json"
expect_rc 2 "a file with errors exits 2" node apply -f "$OUT/bad.json"
check "  ...listing every violation" bash -c 'grep -q "drivers.0: give exactly one of" <<<"$0" && grep -q "vdpa.0.mgmtdev" <<<"$0" && grep -q "vdpa.0.driver" <<<"$0"' "$TOUT"
ip addr flush dev "$ND"

section "a step the kernel refuses ($MODE)"
# netdevsim takes at most 4 VFs (debugfs max_vfs): 5 passes the plan (no sriov_totalvfs) and the
# kernel refuses it after the 0 that a count change writes first (node-file.md, step 4)
echo '{ "vfs": [{ "pf": "'"$NSIM"'", "count": 5 }] }' >"$OUT/refused.json"
expect_rc 2 "node apply of 5 VFs on a PF that takes 4: the step fails" node apply -f "$OUT/refused.json"
show
check "  ...the message says the PF has no VFs now" has "$NSIM has no VFs now"
check "  ...and it has none" test "$(cat /sys/bus/netdevsim/devices/netdevsim11/sriov_numvfs)" = 0
expect_rc 0 "node apply of the node file puts the 4 VFs back" node apply -f "$NODEFILE"
check "  ...4 VFs again" test "$(cat /sys/bus/netdevsim/devices/netdevsim11/sriov_numvfs)" = 4

section "vDPA: another bus driver ($MODE)"
sed 's/"vhost_vdpa"/"virtio_vdpa"/' "$NODEFILE" >"$OUT/virtio.json"
expect_rc 0 "node apply with vdpa0 on virtio_vdpa" node apply -f "$OUT/virtio.json"
show
check "vdpa0 is on virtio_vdpa" test "$(basename "$(readlink /sys/bus/vdpa/devices/vdpa0/driver)")" = virtio_vdpa
# virtio_vdpa parents the virtio device to the vDPA device's DMA device, the PCI function (as in
# s3-virtio-vdpa), and virtio-net probes it after the bind returns
check "  ...with a virtio-net netdev under 0000:00:13.0 (within 10 s)" bash -c 'for i in $(seq 100); do ls /sys/bus/pci/devices/0000:00:13.0/virtio*/net/ 2>/dev/null | grep -q . && exit 0; sleep 0.1; done; ls /sys/bus/pci/devices/0000:00:13.0/; exit 1'
expect_rc 0 "back to vhost_vdpa" node apply -f "$NODEFILE"
check "vdpa0 is on vhost_vdpa again" test "$(basename "$(readlink /sys/bus/vdpa/devices/vdpa0/driver)")" = vhost_vdpa

# ------------------------------------------------------------ reap
section "reap ($MODE)"
check "netns apply-dead" ip netns add apply-dead
CONF='{"cniVersion":"1.0.0","name":"reap-e2e","type":"dpdk-cni","deviceID":"0000:00:10.0"}'
check "CNI ADD of 0000:00:10.0 into netns apply-dead" bash -c "echo '$CONF' | CNI_COMMAND=ADD CNI_CONTAINERID=reap0001 CNI_NETNS=/run/netns/apply-dead CNI_IFNAME=net1 CNI_PATH=/usr/lib/cni $BIN"
check "  ...its state is saved" test -e /var/lib/cni/dpdk-cni/attachments/reap-e2e@reap0001@net1.json
expect_rc 0 "reap with the netns alive" reap
check "  ...releases nothing" has 'released 0,'
check "the pod dies without a DEL (ip netns del)" ip netns del apply-dead
expect_rc 0 "reap" reap
show
check "  ...released it" has 'released 1,'
check "  ...state and marker are gone" bash -c '! test -e /var/lib/cni/dpdk-cni/attachments/reap-e2e@reap0001@net1.json && ! test -e /var/lib/cni/dpdk-cni/devices/0000:00:10.0.json'

# ------------------------------------------------------------ put the guest back
vdpa dev del vdpa0 2>/dev/null
for p in 0000:00:10.0 0000:00:11.0 0000:00:13.0; do "$BIN" bind "$p" --driver kernel >/dev/null 2>&1; done
echo 11 >/sys/bus/netdevsim/del_device 2>/dev/null
rm -f /etc/pcidp/config.json
echo "apply mode: $MODE"
echo "apply: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
