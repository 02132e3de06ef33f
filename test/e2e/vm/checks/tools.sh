#!/usr/bin/env bash
# The node tools (doctor, bind/unbind, inspect, dp-config) against the REAL kernel of the e2e guest:
#   test/e2e/vm/vm-run.sh test/e2e/vm/checks/tools.sh             # emulated intel-iommu
#   VMH_IOMMU=0 test/e2e/vm/vm-run.sh test/e2e/vm/checks/tools.sh # no IOMMU (the AWS EC2 shape)
# Runs the built executable (npm run build first). Copies of every doctor report go to
# $VMH_RUN/doctor-<mode>-<n>.{txt,json}. Exits non-zero if any check fails.
# Each tool start costs seconds under TCG: a run takes ~4 min on an idle 2-core host (8 when the
# host is busy), so give it VMH_TIMEOUT=900.
set -uo pipefail

if [ "${VMH_GUEST:-0}" != 1 ]; then
  echo "tools.sh: refusing to run outside the vm-run.sh guest (it rebinds PCI devices)" >&2
  exit 2
fi
REPO=$(cd "$(dirname "$0")/../../../.." && pwd)
BIN=${DPDK_CNI_BIN:-$REPO/dist/dpdk-cni}
[ -x "$BIN" ] || { echo "tools.sh: $BIN missing: run npm run build on the host first" >&2; exit 2; }
OUT=${VMH_RUN:-/tmp}

# ok, bad, check, section, netdev_of, driver_of, T, expect_rc, has, show
. "$(dirname "$0")/lib.sh"
group_of() { basename "$(readlink /sys/bus/pci/devices/"$1"/iommu_group 2>/dev/null)" 2>/dev/null; }
if [ -n "$(ls /sys/class/iommu 2>/dev/null)" ]; then MODE=iommu; else MODE=noiommu; fi
vfio_node_of() { if [ $MODE = noiommu ]; then echo "/dev/vfio/noiommu-$(group_of "$1")"; else echo "/dev/vfio/$(group_of "$1")"; fi; }

# doctor_json <file>: the --json report; jq-free assertions with node
dstatus() { node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8"));const c=r.checks.find(c=>c.id===process.argv[1]);console.log(c?c.status:"absent")' "$1" <"$2"; }
DOCTOR_N=0
doctor_run() {
  DOCTOR_N=$((DOCTOR_N + 1))
  local f=$OUT/doctor-$MODE-$DOCTOR_N
  "$BIN" doctor >"$f.txt" 2>&1; DRC=$?
  "$BIN" doctor --json >"$f.json" 2>/dev/null
  echo "------- dpdk-cni doctor (#$DOCTOR_N, $MODE, exit $DRC) -------"
  sed 's/^/       | /' "$f.txt"
  DJSON=$f.json
}
dcheck() { # dcheck <id> <status>
  local s; s=$(dstatus "$1" "$DJSON")
  if [ "$s" = "$2" ]; then ok "doctor: $1 is $2"; else bad "doctor: $1 is $s, wanted $2"; fi
}

echo "tools: kernel $(uname -r), mode $MODE, binary $BIN"

# ------------------------------------------------------------ a fresh node: doctor finds what is missing
section "doctor on a fresh guest ($MODE)"
doctor_run
check "doctor exits 2 on a node that is not ready" test "$DRC" = 2
dcheck vfio fail
dcheck hugepages fail
dcheck cni-binary fail
check "the vfio failure says how to fix it" grep -q 'fix: modprobe vfio-pci' "$OUT/doctor-$MODE-1.txt"
check "the hugepages failure says how to fix it" grep -q 'fix: echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages' "$OUT/doctor-$MODE-1.txt"
for p in 0000:00:10.0 0000:00:11.0 0000:00:12.0 0000:00:13.0; do dcheck "nic:$p" pass; done
check "the 9p virtio transports (class 0x0002) are not listed as NICs" bash -c "! grep -q 'nic:0000:00:0[12].0' $OUT/doctor-$MODE-1.txt"
if [ $MODE = iommu ]; then
  dcheck iommu pass
  check "doctor names the IOMMU unit" grep -q 'IOMMU on: dmar0' "$OUT/doctor-$MODE-1.txt"
else
  dcheck iommu fail
  check "the IOMMU failure gives the no-IOMMU fix" grep -q 'enable_unsafe_noiommu_mode' "$OUT/doctor-$MODE-1.txt"
fi

# ------------------------------------------------------------ bind: real effect
section "bind to vfio-pci and back ($MODE)"
if [ $MODE = noiommu ]; then
  # vfio-pci gets loaded by bind itself; without no-IOMMU mode it must refuse with the fix
  expect_rc 2 "bind to vfio-pci without IOMMU and without no-IOMMU mode is refused" bind 0000:00:10.0 --driver vfio-pci
  check "  ...saying how to enable no-IOMMU mode" has 'echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode'
  check "  ...and the NIC stays on virtio-pci" test "$(driver_of 0000:00:10.0)" = virtio-pci
  check "enable no-IOMMU mode" bash -c 'echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode'
fi
expect_rc 0 "dpdk-cni bind 0000:00:10.0 --driver vfio-pci" bind 0000:00:10.0 --driver vfio-pci
echo "$TOUT" | sed 's/^/       | /'
check "0000:00:10.0 is now on vfio-pci" test "$(driver_of 0000:00:10.0)" = vfio-pci
check "eth0 is gone from the host" bash -c '! ip link show eth0'
check "$(vfio_node_of 0000:00:10.0) exists (char device)" test -c "$(vfio_node_of 0000:00:10.0)"
check "driver_override is vfio-pci" test "$(cat /sys/bus/pci/devices/0000:00:10.0/driver_override)" = vfio-pci
check "bind recorded eth0's MAC and MTU" grep -q '"mac":"52:54:00:00:00:01","mtu":1500' /var/lib/cni/dpdk-cni/known/0000:00:10.0.json
check "the output shows before and after" has '0000:00:10.0: virtio-pci (eth0, 52:54:00:00:00:01, mtu 1500) -> vfio-pci'
expect_rc 0 "binding again is a no-op" bind 0000:00:10.0 --driver vfio-pci
check "  ...that says nothing to do" has 'nothing to do'
expect_rc 0 "bind 0000:00:11.0 too" bind 0000:00:11.0 --driver vfio-pci
T bind --status
check "bind --status lists both under the DPDK-compatible driver" bash -c 'awk "/DPDK-compatible/{f=1} /^\$/{f=0} f" <<<"$0" | grep -c drv=vfio-pci | grep -qx 2' "$TOUT"
echo "$TOUT" | sed 's/^/       | /'
expect_rc 0 "inspect 0000:00:10.0 --json" inspect 0000:00:10.0 --json
check "inspect: DPDK mode, MAC and MTU from bind's record, vfio mount" node -e '
  const r = JSON.parse(process.argv[1]); const a = require("assert");
  a.strictEqual(r.plugin.mode, "dpdk"); a.strictEqual(r.driver, "vfio-pci");
  a.deepStrictEqual(r.plugin.reports, { mac: "52:54:00:00:00:01", mtu: 1500 });
  a.deepStrictEqual(r.plugin.deviceInfo, { type: "pci", version: "1.1.0", pci: { "pci-address": "0000:00:10.0" } });
  a.ok(r.devicePluginMounts[0] === "/dev/vfio/vfio" && /^\/dev\/vfio\/(noiommu-)?\d+/.test(r.devicePluginMounts[1]), r.devicePluginMounts.join());
' "$TOUT"
expect_rc 0 "bind 0000:00:10.0 --driver kernel (back to virtio-pci)" bind 0000:00:10.0 --driver kernel
echo "$TOUT" | sed 's/^/       | /'
check "0000:00:10.0 is on virtio-pci again" test "$(driver_of 0000:00:10.0)" = virtio-pci
check "with a netdev again, MAC 52:54:00:00:00:01" bash -c 'n=$(ls /sys/bus/pci/devices/0000:00:10.0/virtio*/net/); [ "$(cat /sys/class/net/$n/address)" = 52:54:00:00:00:01 ]'
check "driver_override is cleared" test "$(cat /sys/bus/pci/devices/0000:00:10.0/driver_override)" = '(null)'
expect_rc 0 "unbind 0000:00:11.0 (from vfio-pci)" unbind 0000:00:11.0
check "0000:00:11.0 has no driver" test -z "$(driver_of 0000:00:11.0)"
expect_rc 0 "bind 0000:00:11.0 --driver virtio-pci (explicit kernel driver)" bind 0000:00:11.0 --driver virtio-pci
check "0000:00:11.0 is on virtio-pci with a netdev" bash -c '[ "$(basename "$(readlink /sys/bus/pci/devices/0000:00:11.0/driver)")" = virtio-pci ] && ls /sys/bus/pci/devices/0000:00:11.0/virtio*/net/ | grep -q .'

# ------------------------------------------------------------ refusal: an up NIC with an address
section "refusal: NIC in use ($MODE)"
ND=$(netdev_of 0000:00:12.0)
check "$ND up with 192.0.2.12/24" bash -c "ip addr add 192.0.2.12/24 dev $ND && ip link set $ND up"
expect_rc 1 "bind 0000:00:12.0 (in use) is refused" bind 0000:00:12.0 --driver vfio-pci
check "  ...naming the address and route" has "$ND is up with addresses 192.0.2.12/24 and routes 192.0.2.0/24"
check "  ...and the NIC keeps its driver and address" bash -c "[ \"\$(basename \"\$(readlink /sys/bus/pci/devices/0000:00:12.0/driver)\")\" = virtio-pci ] && ip -br addr show $ND | grep -q 192.0.2.12"
expect_rc 0 "with --force it is bound" bind 0000:00:12.0 --driver vfio-pci --force
check "0000:00:12.0 is on vfio-pci" test "$(driver_of 0000:00:12.0)" = vfio-pci
expect_rc 0 "and returned to the kernel" bind 0000:00:12.0 --driver kernel
check "0000:00:12.0 is on virtio-pci" test "$(driver_of 0000:00:12.0)" = virtio-pci
expect_rc 2 "an unknown PCI address fails" bind 0000:00:1e.0 --driver vfio-pci
check "  ...saying so" has 'no PCI device 0000:00:1e.0 on this node'
expect_rc 2 "an invalid driver name fails" bind 0000:00:12.0 --driver '../x'
expect_rc 2 "a driver no module provides fails with modprobe's reason" bind 0000:00:12.0 --driver no_such_drv
check "  ...modprobe's own message" has 'Module no_such_drv not found'
check "  ...and the NIC is untouched" test "$(driver_of 0000:00:12.0)" = virtio-pci
expect_rc 1 "a non-network device (a 9p transport, class 0x0002) is refused" bind 0000:00:01.0 --driver vfio-pci --dry-run
check "  ...and keeps its driver" test "$(driver_of 0000:00:01.0)" = virtio-pci

# ------------------------------------------------------------ vDPA
section "vDPA ($MODE)"
check "modprobe vdpa vhost_vdpa" modprobe -a vdpa vhost_vdpa
ND=$(netdev_of 0000:00:13.0)
check "$ND up without an address (only the kernel's IPv6 link-local)" bash -c "ip link set $ND up && sleep 1 && ip -6 addr show dev $ND | grep -q 'scope link'"
expect_rc 0 "bind 0000:00:13.0 --driver vp-vdpa: an up NIC with only link-local is not in use; bind loads the module" bind 0000:00:13.0 --driver vp-vdpa
check "0000:00:13.0 is on vp-vdpa" test "$(driver_of 0000:00:13.0)" = vp-vdpa
check "vdpa dev add name vdpa0 mgmtdev pci/0000:00:13.0" vdpa dev add name vdpa0 mgmtdev pci/0000:00:13.0
expect_rc 0 "inspect 0000:00:13.0" inspect 0000:00:13.0
check "inspect: vhost-vdpa mode with /dev/vhost-vdpa-0" bash -c 'grep -q "CNI ADD mode: vhost-vdpa" <<<"$0" && grep -q "/dev/vhost-vdpa-0" <<<"$0"' "$TOUT"
T bind --status
check "bind --status lists vdpa0" has 'vdpa0 parent=0000:00:13.0 drv=vhost_vdpa dev=/dev/vhost-vdpa-0'

# ------------------------------------------------------------ dp-config against the real devices
section "dp-config ($MODE)"
check "bind 0000:00:10.0 and 0000:00:11.0 to vfio-pci" "$BIN" bind 0000:00:10.0 0000:00:11.0 --driver vfio-pci
expect_rc 0 "dp-config --write for virtio NICs on vfio-pci and the vhost vDPA device" dp-config \
  -r example.com/virtio_dpdk=vendor:1af4,device:1041,driver:vfio-pci -r example.com/vdpa=vdpa:vhost --write
echo "$TOUT" | sed 's/^/       | /'
check "/etc/pcidp/config.json has both resources" node -e '
  const c = JSON.parse(require("fs").readFileSync("/etc/pcidp/config.json", "utf8"));
  require("assert").deepStrictEqual(c.resourceList.map((r) => `${r.resourcePrefix}/${r.resourceName}`), ["example.com/virtio_dpdk", "example.com/vdpa"]);'
check "the pool lists the two bound NICs" has 'example.com/virtio_dpdk: 2 device(s): 0000:00:10.0 (vfio-pci), 0000:00:11.0 (vfio-pci)'
expect_rc 0 "dp-config --check passes" dp-config --check
expect_rc 2 "a resource that selects nothing is not written" dp-config -r example.com/none=driver:igb_uio --write /tmp/none.json
check "  ...and no file appears" test ! -e /tmp/none.json

# ------------------------------------------------------------ a prepared node: doctor is happy
section "doctor on the prepared guest ($MODE)"
check "reserve 64 hugepages of 2M" bash -c 'echo 64 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
check "install the plugin into /opt/cni/bin" bash -c "mkdir -p /opt/cni/bin && cp $BIN /opt/cni/bin/dpdk-cni"
doctor_run
check "doctor exits 0 on the prepared node" test "$DRC" = 0
for id in iommu vfio hugepages hugetlbfs cni-binary state vdpa-mgmt vdpa:vdpa0 dp-config:example.com/virtio_dpdk dp-config:example.com/vdpa; do dcheck "$id" pass; done
for p in 0000:00:10.0 0000:00:11.0; do dcheck "vfio-dev:$p" pass; done
check "doctor names the vfio node of 0000:00:10.0" grep -qF "0000:00:10.0 on vfio-pci: $(vfio_node_of 0000:00:10.0) present" "$OUT/doctor-$MODE-$DOCTOR_N.txt"
check "doctor lists vp_vdpa's management device" grep -q 'vDPA management devices: pci/0000:00:13.0' "$OUT/doctor-$MODE-$DOCTOR_N.txt"

# a stale attachment (the pod's netns is gone, DEL never came): doctor warns with the DEL command
mkdir -p /var/lib/cni/dpdk-cni/attachments
cat >/var/lib/cni/dpdk-cni/attachments/net@gone0001@net1.json <<'EOF'
{"version":1,"phase":"added","key":{"net":"net","containerID":"gone0001","ifname":"net1"},"netns":"/run/netns/gone0001","mode":"dpdk","pci":"0000:00:10.0","driver":"vfio-pci","netconf":"{}","ipam":false,"createdAt":"2025-01-01T00:00:00Z"}
EOF
doctor_run
check "doctor exits 1 with a stale attachment" test "$DRC" = 1
dcheck state:0000:00:10.0 warn
check "  ...and says how to release it" grep -q 'CNI_COMMAND=DEL CNI_CONTAINERID=gone0001 CNI_IFNAME=net1' "$OUT/doctor-$MODE-$DOCTOR_N.txt"
rm -f /var/lib/cni/dpdk-cni/attachments/net@gone0001@net1.json

vdpa dev del vdpa0 2>/dev/null
echo "tools mode: $MODE"
echo "tools: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
