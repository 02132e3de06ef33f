# shellcheck shell=bash
# Scenario 5 — VF settings on a real PF driver. netdevsim PFs implement SR-IOV VF attributes in the
# kernel (`ip link set <pf> vf N ...` and `ip -j -d link` vfinfo_list) but are not PCI, so the PCI
# side — VF addresses with a `physfn` link to a PF whose net/ has the netdevsim PF's netdev name —
# is a simulated sysfs tree (src/sim/simnode.ts, run from dist/sim/simnode.mjs) under DPDK_CNI_ROOT; every VF setting the plugin
# makes and reads back goes through the real driver.
#   s5-vf-settings     one VF: every setting applied and read back, CHECK, tampering detected, DEL
#                      restores every original; also captures test/fixtures/ip-link-netdevsim.json
#   s5-vf-concurrency  16 concurrent ADDs then 16 concurrent DELs on VFs of one PF with 20 VFs

S5_SIMROOT=/tmp/e2e-s5-sim
S5_NET=e2e-vf

# nsim_pf ID NUMVFS NAME — a netdevsim device with NUMVFS VFs whose PF netdev is renamed NAME
nsim_pf() {
  local id=$1 vfs=$2 name=$3 dev=/sys/bus/netdevsim/devices/netdevsim$1 pf=""
  modprobe netdevsim || return 1
  echo "$id 1" >/sys/bus/netdevsim/new_device || return 1
  for _ in $(seq 1 50); do pf=$(ls $dev/net/ 2>/dev/null | head -1); [ -n "$pf" ] && break; sleep 0.2; done
  [ -n "$pf" ] || { echo "netdevsim$id has no netdev"; return 1; }
  # netdevsim allows 4 VFs unless debugfs raises max_vfs (only while none are enabled)
  [ "$vfs" -gt 4 ] && { echo "$vfs" >/sys/kernel/debug/netdevsim/netdevsim$id/max_vfs || return 1; }
  echo "$vfs" >$dev/sriov_numvfs || return 1
  ip link set "$pf" down && ip link set "$pf" name "$name" && ip link set "$name" up
}
vf_json() { ip -j -d link show dev "$1" | jq -cS --argjson n "$2" '.[0].vfinfo_list[] | select(.vf == $n)'; }
vfs_json() { ip -j -d link show dev "$1" | jq -cS '.[0].vfinfo_list'; }
# sim_pf PF-PCI NETDEV NUMVFS — prints the VF PCI addresses (space-separated), index order
sim_pf() {
  SIMROOT=$S5_SIMROOT PF=$1 ND=$2 NUM=$3 node --input-type=module -e "
    import { SimNode } from '$E2E_REPO/dist/sim/simnode.mjs';
    const n = new SimNode(process.env.SIMROOT);
    const vfs = n.sriovPf(process.env.PF, { netdev: process.env.ND, numVfs: Number(process.env.NUM), driver: 'ice', vfDriver: 'vfio-pci' });
    console.log(vfs.join(' '));"
}

scenario_s5_vf_settings() {
  local pf=nsim10pf PFPCI=0000:3b:00.0
  check "netdevsim PF with 4 VFs, PF netdev renamed $pf" nsim_pf 10 4 $pf
  rm -rf $S5_SIMROOT
  local vfs; vfs=($(sim_pf $PFPCI $pf 4))
  expect_eq "simulated sysfs: 4 VF PCI addresses whose physfn is $PFPCI (net/$pf)" "${#vfs[@]} $(basename "$(readlink $S5_SIMROOT/sys/bus/pci/devices/${vfs[1]}/physfn)") $(ls $S5_SIMROOT/sys/bus/pci/devices/$PFPCI/net)" "4 $PFPCI $pf"
  # originals that DEL must give back (VF 1), and varied settings on the others
  ip -batch - <<EOF
link set dev $pf vf 1 mac 02:00:00:05:01:01
link set dev $pf vf 1 vlan 5 qos 1
link set dev $pf vf 1 spoofchk on
link set dev $pf vf 1 trust off
link set dev $pf vf 2 vlan 200 proto 802.1ad
link set dev $pf vf 2 max_tx_rate 50
link set dev $pf vf 3 mac 02:00:00:05:03:03
link set dev $pf vf 3 spoofchk on
link set dev $pf vf 3 trust on
link set dev $pf vf 3 state disable
EOF
  local orig all0; orig=$(vf_json $pf 1); all0=$(vfs_json $pf)
  echo "       VF 1 before ADD: $orig"
  ip netns add s5pod 2>/dev/null
  CID=e2e-s5-0001 NETNS=/run/netns/s5pod IFNAME=net1 ROOT=$S5_SIMROOT
  local di c state0; di=$(devinfo_path $S5_NET $CID net1); state0=$(state_list)
  c=$(conf $S5_NET "${vfs[1]}" "{vlan: 100, vlanQoS: 3, vlanProto: \"802.1ad\", mac: \"02:00:00:e2:e5:01\", spoofchk: \"off\", trust: \"on\",
       min_tx_rate: 10, max_tx_rate: 100, link_state: \"enable\", runtimeConfig: {CNIDeviceInfoFile: \"$di\"}}")

  section "ADD VF 1 (${vfs[1]}) with every VF setting"
  cni_ok "ADD succeeds" ADD "$c"
  local res=$CNI_OUT v; v=$(vf_json $pf 1)
  echo "       VF 1 after ADD:  $v"
  expect_eq "ip -j -d link: VF 1 mac 02:00:00:e2:e5:01" "$(jq -r .address <<<"$v")" 02:00:00:e2:e5:01
  expect_eq "ip -j -d link: VF 1 vlan 100" "$(jq -r '.vlan_list[0].vlan' <<<"$v")" 100
  expect_eq "ip -j -d link: VF 1 vlan qos 3" "$(jq -r '.vlan_list[0].qos' <<<"$v")" 3
  expect_eq "ip -j -d link: VF 1 vlan protocol 802.1ad" "$(jq -r '.vlan_list[0].protocol' <<<"$v")" 802.1ad
  expect_eq "ip -j -d link: VF 1 spoofchk off" "$(jq -r .spoofchk <<<"$v")" false
  expect_eq "ip -j -d link: VF 1 trust on" "$(jq -r .trust <<<"$v")" true
  expect_eq "ip -j -d link: VF 1 min_tx_rate 10" "$(jq -r .rate.min_tx <<<"$v")" 10
  expect_eq "ip -j -d link: VF 1 max_tx_rate 100" "$(jq -r .rate.max_tx <<<"$v")" 100
  expect_eq "ip -j -d link: VF 1 link_state enable" "$(jq -r .link_state <<<"$v")" enable
  expect_same "VFs 0, 2, 3 untouched" "$(vfs_json $pf | jq -c 'map(select(.vf != 1))')" "$(jq -c 'map(select(.vf != 1))' <<<"$all0")"
  expect_eq "result: net1, the VF's PCI address and the MAC asked for" "$(jq -c '.interfaces[0] | {name, pciID, mac}' <<<"$res")" \
    "{\"name\":\"net1\",\"pciID\":\"${vfs[1]}\",\"mac\":\"02:00:00:e2:e5:01\"}"
  expect_eq "device-info: the VF and its PF" "$(cat "$ROOT$di" 2>&1)" \
    "{\"type\":\"pci\",\"version\":\"1.1.0\",\"pci\":{\"pci-address\":\"${vfs[1]}\",\"pf-pci-address\":\"$PFPCI\"}}"
  # a real `ip -j -d link` with varied VF settings, for src/net/vf.ts unit tests
  ip -j -d link show dev $pf | jq . >"$VMH_RUN/ip-link-netdevsim.json"
  check "captured ip -j -d link show $pf (4 VFs) for test/fixtures" jq -e '.[0].vfinfo_list | length == 4' "$VMH_RUN/ip-link-netdevsim.json"
  cni_ok "CHECK passes" CHECK "$c"

  section "a setting changed behind our back"
  ip link set dev $pf vf 1 vlan 7
  cni_fails "CHECK fails and names the VLAN" CHECK "$c" 'VF 1 of nsim10pf: vlan is 7, expected 100'

  section "DEL restores every original"
  cni_ok "DEL succeeds" DEL "$c"
  expect_same "VF 1 exactly as before ADD (mac, vlan 5 qos 1 802.1Q, spoofchk on, trust off, rates 0, link_state auto)" "$(vf_json $pf 1)" "$orig"
  expect_same "all 4 VFs exactly as before ADD" "$(vfs_json $pf)" "$all0"
  check "device-info file removed" test ! -e "$ROOT$di"
  expect_eq "no attachment state or allocation marker left" "$(state_list)" "$state0"
  cni_fails "CHECK after DEL fails" CHECK "$c" 'no attachment'
  cni_ok "a second DEL succeeds" DEL "$c"
  expect_same "the second DEL changed nothing" "$(vfs_json $pf)" "$all0"
}

scenario_s5_vf_concurrency() {
  local pf=nsim11pf PFPCI=0000:5e:00.0 N=16 TOTAL=20
  check "netdevsim PF with $TOTAL VFs, PF netdev renamed $pf" nsim_pf 11 $TOTAL $pf
  rm -rf $S5_SIMROOT
  local vfs; vfs=($(sim_pf $PFPCI $pf $TOTAL))
  expect_eq "simulated sysfs: $TOTAL VF PCI addresses under $PFPCI" "${#vfs[@]}" "$TOTAL"
  # distinct originals on every VF, so a restore that hits the wrong VF shows
  local i batch=""
  for ((i = 0; i < TOTAL; i++)); do
    batch+="link set dev $pf vf $i mac $(printf '02:00:00:16:00:%02x' $i)"$'\n'
    ((i % 3)) && batch+="link set dev $pf vf $i vlan $((10 + i)) qos $((i % 8))"$'\n'
    ((i % 2)) && batch+="link set dev $pf vf $i spoofchk on"$'\n'
    ((i % 5 == 0)) && batch+="link set dev $pf vf $i max_tx_rate $((500 + i))"$'\n'
  done
  check "distinct original settings on all $TOTAL VFs" ip -batch - <<<"$batch"
  local all0 state0; all0=$(vfs_json $pf); state0=$(state_list)
  ip netns add s5pod 2>/dev/null
  NETNS=/run/netns/s5pod IFNAME=net1 ROOT=$S5_SIMROOT
  local dir=/tmp/e2e-s5-conc; rm -rf $dir; mkdir -p $dir
  s5c_conf() { # index → netconf
    local i=$1 proto=802.1q state=enable
    ((i % 4 == 0)) && proto=802.1ad
    ((i % 2)) && state=disable
    conf $S5_NET "${vfs[$i]}" "{vlan: $((200 + i)), vlanQoS: $(((i + 1) % 8)), vlanProto: \"$proto\", mac: \"$(printf '02:16:00:00:01:%02x' "$i")\",
      spoofchk: \"off\", trust: \"on\", min_tx_rate: 10, max_tx_rate: $((1000 + i)), link_state: \"$state\"}"
  }
  s5c_run() { # CMD → runs N plugin processes at once, one per VF; rc/stdout in $dir
    local cmd=$1 i pids=()
    for ((i = 0; i < N; i++)); do
      ( CID=e2e-s5c-$i; cni "$cmd" "$(s5c_conf $i)" >/dev/null; echo "$CNI_RC" >$dir/$cmd.$i.rc; printf '%s' "$CNI_OUT" >$dir/$cmd.$i.out ) &
      pids+=($!)
    done
    wait "${pids[@]}"
  }
  s5c_rcs() { local i out=""; for ((i = 0; i < N; i++)); do out+="$(cat $dir/$1.$i.rc 2>/dev/null || echo none) "; done; echo "$out"; }
  local zeros; zeros=$(printf '0 %.0s' $(seq 1 $N))

  section "$N concurrent ADDs on VFs 0..$((N - 1)) of $pf"
  local t0=$SECONDS
  s5c_run ADD
  echo "       $N ADDs took $((SECONDS - t0)) s"
  expect_eq "all $N ADDs succeeded (exit codes)" "$(s5c_rcs ADD)" "$zeros"
  for ((i = 0; i < N; i++)); do [ "$(cat $dir/ADD.$i.rc)" = 0 ] || { echo "       ADD $i: $(cat $dir/ADD.$i.out)"; }; done
  local wrong="" v want
  for ((i = 0; i < N; i++)); do
    v=$(vf_json $pf $i | jq -c '{mac: .address, vlan: .vlan_list[0].vlan, qos: (.vlan_list[0].qos // 0), proto: (.vlan_list[0].protocol // "802.1Q"), spoofchk, trust, max: .rate.max_tx, min: .rate.min_tx, link_state}')
    local proto=802.1Q state=enable; ((i % 4 == 0)) && proto=802.1ad; ((i % 2)) && state=disable
    want="{\"mac\":\"$(printf '02:16:00:00:01:%02x' $i)\",\"vlan\":$((200 + i)),\"qos\":$(((i + 1) % 8)),\"proto\":\"$proto\",\"spoofchk\":false,\"trust\":true,\"max\":$((1000 + i)),\"min\":10,\"link_state\":\"$state\"}"
    [ "$v" = "$want" ] || wrong+="VF $i: $v (expected $want); "
  done
  expect_eq "every VF 0..$((N - 1)) carries exactly its own pod's settings (ip -j -d link)" "$wrong" ""
  expect_same "VFs $N..$((TOTAL - 1)) untouched" "$(vfs_json $pf | jq -c --argjson n $N 'map(select(.vf >= $n))')" "$(jq -c --argjson n $N 'map(select(.vf >= $n))' <<<"$all0")"
  expect_eq "$N attachment states and $N allocation markers on disk" \
    "$(ls $S5_SIMROOT$STATE/attachments | wc -l) $(ls $S5_SIMROOT$STATE/devices | wc -l)" "$N $N"

  section "$N concurrent DELs"
  t0=$SECONDS
  s5c_run DEL
  echo "       $N DELs took $((SECONDS - t0)) s"
  expect_eq "all $N DELs succeeded (exit codes)" "$(s5c_rcs DEL)" "$zeros"
  expect_same "all $TOTAL VFs exactly as before (every original restored on the right VF)" "$(vfs_json $pf)" "$all0"
  expect_eq "no attachment state or allocation marker left" "$(state_list)" "$state0"
}

cleanup_s5_vf_settings() { ip netns del s5pod 2>/dev/null; echo 10 >/sys/bus/netdevsim/del_device; rm -rf $S5_SIMROOT; }
cleanup_s5_vf_concurrency() { ip netns del s5pod 2>/dev/null; echo 11 >/sys/bus/netdevsim/del_device; rm -rf $S5_SIMROOT; }
