#!/usr/bin/env bash
# The QEMU end-to-end suite (`npm run test:e2e`): the BUILT plugin (the shipped single executable
# dist/dpdk-cni-linux-x64; E2E_PLUGIN=bundle: dist/dpdk-cni run by the guest's node) driven as a
# runtime drives it, against real vfio-pci, vp_vdpa/vhost_vdpa/virtio_vdpa, netdevsim SR-IOV and
# virtio-net devices in a throw-away TCG guest (test/e2e/vm). See docs/e2e.md.
#
#   test/e2e/run.sh                 all scenarios (two boots: emulated IOMMU, then no-IOMMU)
#   test/e2e/run.sh s4-kernel-netdev s5-vf-settings     only these (their boots only)
#
# It installs the host packages and prepares the kernel cache (both idempotent), never builds the
# plugin (run `npm run build` first), prints a PASS/FAIL line per scenario and ends with exactly
# "N passed, M failed"; exit 1 on any failure. A machine that cannot run it FAILS — it never
# skips by itself. Env:
#   DPDK_CNI_SKIP_E2E=1   local runs only: skip with a loud notice (refused when CI is set)
#   E2E_VERBOSE=1         stream the whole guest console (default: assertion lines only)
#   E2E_OUT=DIR           parent of the run folders (default ${TMPDIR:-/tmp}/dpdk-cni-e2e; newest 5 kept)
#   E2E_UPDATE_FIXTURES=1 copy the captured `ip -j -d link` of a netdevsim PF to test/fixtures/
#   E2E_BOOT_TIMEOUT=S    per boot (default 2400)
#   E2E_PLUGIN=bundle     drive the bundle dist/dpdk-cni instead of dist/dpdk-cni-linux-x64
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VM=$REPO/test/e2e/vm
cd "$REPO" || exit 1

# boot name | VMH_IOMMU | scenarios (run in this order in one guest)
BOOTS=(
  "iommu|1|s1-vfio-iommu s2-vhost-vdpa s3-virtio-vdpa s5-vf-settings s5-vf-concurrency"
  "noiommu|0|s1-vfio-noiommu s4-kernel-netdev s6-del-tolerance"
)
ALL=()
for b in "${BOOTS[@]}"; do IFS='|' read -r _ _ s <<<"$b"; for x in $s; do ALL+=("$x"); done; done

banner() { printf '\n%s\n%s\n%s\n\n' "################################################################" "# $*" "################################################################"; }
# fail_all REASON — the suite cannot run: every selected scenario fails
fail_all() {
  banner "E2E FAILED: $*"
  local x; for x in "${SELECTED[@]}"; do printf '  FAIL  %-20s (not run: %s)\n' "$x" "$1"; done
  echo "0 passed, ${#SELECTED[@]} failed"
  exit 1
}

SELECTED=("$@")
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL[@]}")
for x in "${SELECTED[@]}"; do
  [[ " ${ALL[*]} " == *" $x "* ]] || { echo "run.sh: unknown scenario '$x' (known: ${ALL[*]})" >&2; exit 2; }
done

if [ "${DPDK_CNI_SKIP_E2E:-0}" = 1 ]; then
  if [ -n "${CI:-}" ] && [ "${CI}" != 0 ] && [ "${CI}" != false ]; then
    fail_all "DPDK_CNI_SKIP_E2E=1 is not honoured in CI (CI=$CI)"
  fi
  banner "E2E SKIPPED (DPDK_CNI_SKIP_E2E=1): NOTHING WAS TESTED AGAINST REAL DEVICES"
  echo "${#SELECTED[@]} scenarios skipped"
  echo "0 passed, 0 failed"
  exit 0
fi

T_START=$(date +%s)
[ "$(id -u)" = 0 ] || fail_all "needs root (apt packages, QEMU guest); set DPDK_CNI_SKIP_E2E=1 to skip locally"
if [ "${E2E_PLUGIN:-shipped}" = bundle ]; then
  PLUGIN=(dist/dpdk-cni dist/package.json)
else
  PLUGIN=(dist/dpdk-cni-linux-x64)
fi
for f in "${PLUGIN[@]}"; do
  [ -f "$REPO/$f" ] || fail_all "$f is missing: run 'npm run build' first"
done

OUT_PARENT=${E2E_OUT:-${TMPDIR:-/tmp}/dpdk-cni-e2e}
mkdir -p "$OUT_PARENT" || fail_all "cannot create $OUT_PARENT"
OUT=$(mktemp -d "$OUT_PARENT/e2e.$(date +%Y%m%d-%H%M%S).XXXX") || fail_all "cannot create a run folder in $OUT_PARENT"
ls -1dt "$OUT_PARENT"/e2e.* 2>/dev/null | tail -n +6 | while read -r d; do rm -rf "$d"; done
echo "e2e: run folder $OUT"

echo "e2e: host packages (test/e2e/vm/install-deps.sh)"
bash "$VM/install-deps.sh" >"$OUT/install-deps.log" 2>&1 || { tail -20 "$OUT/install-deps.log"; fail_all "install-deps.sh failed (log $OUT/install-deps.log)"; }
echo "e2e: kernel cache (test/e2e/vm/prepare.sh)"
bash "$VM/prepare.sh" >"$OUT/prepare.log" 2>&1 || { tail -20 "$OUT/prepare.log"; fail_all "prepare.sh failed (log $OUT/prepare.log)"; }
T_READY=$(date +%s)

# A snapshot of the plugin: a concurrent `npm run build` must not change it under a running guest.
# The guest runs it as bin/dpdk-cni, the name it has in /opt/cni/bin.
mkdir -p "$OUT/bin" && cp "$REPO/${PLUGIN[0]}" "$OUT/bin/dpdk-cni" || fail_all "cannot copy ${PLUGIN[0]}"
for f in "${PLUGIN[@]:1}"; do cp "$REPO/$f" "$OUT/bin/" || fail_all "cannot copy $f"; done
ver=$(CNI_COMMAND=VERSION "$OUT/bin/dpdk-cni" </dev/null 2>&1) && [[ "$ver" == *supportedVersions* ]] \
  || fail_all "${PLUGIN[0]} does not answer CNI VERSION on this host: $ver"

VMPID=""
on_signal() {
  [ -n "$VMPID" ] && kill -TERM -- "-$VMPID" 2>/dev/null
  echo "e2e: interrupted" >&2
  exit 130
}
trap on_signal INT TERM

# boot NAME IOMMU SCENARIOS... — one guest; retried once if it died before the guest was up
boot() {
  local name=$1 iommu=$2; shift 2
  local attempt rc dir
  for attempt in 1 2; do
    dir=$OUT/$name.$attempt
    mkdir -p "$dir"
    banner "boot '$name' (VMH_IOMMU=$iommu, attempt $attempt): $*"
    local t0; t0=$(date +%s)
    local filter='^(ok |FAIL|===|---|       |e2e guest|vm-run)'
    [ "${E2E_VERBOSE:-0}" = 1 ] && filter='.'
    setsid env VMH_IOMMU="$iommu" VMH_RUN_DIR="$dir" VMH_TIMEOUT="${E2E_BOOT_TIMEOUT:-2400}" \
      DPDK_CNI_BIN="$OUT/bin/dpdk-cni" E2E_REPO="$REPO" VMH_PASSENV="DPDK_CNI_BIN E2E_REPO" \
      bash "$VM/vm-run.sh" "$REPO/test/e2e/scenarios/guest-main.sh" "$@" \
      > >(grep --line-buffered -E "$filter") 2>&1 &
    VMPID=$!
    wait $VMPID; rc=$?
    VMPID=""
    sleep 0.5 # let the console filter drain
    echo "$name $attempt rc=$rc wall=$(($(date +%s) - t0))" >>"$OUT/boots.txt"
    BOOT_DIR[$name]=$dir
    if [ "$rc" = 125 ] || [ "$rc" = 124 ]; then
      echo "e2e: boot '$name' ended with $rc ($([ "$rc" = 124 ] && echo timeout || echo 'VM died')); last console lines:"
      tail -30 "$dir/console.log" 2>/dev/null | sed 's/^/    /'
      if ! grep -q VMH_READY "$dir/console.log" 2>/dev/null && [ "$attempt" = 1 ]; then
        echo "e2e: the guest died before it was up (a TCG boot flake, e.g. 'Oops: int3' in early boot): booting once more"
        continue
      fi
    fi
    return 0
  done
}

declare -A BOOT_DIR=()
for b in "${BOOTS[@]}"; do
  IFS='|' read -r name iommu scen <<<"$b"
  want=()
  for x in $scen; do [[ " ${SELECTED[*]} " == *" $x "* ]] && want+=("$x"); done
  [ ${#want[@]} -gt 0 ] && boot "$name" "$iommu" "${want[@]}"
done

if [ "${E2E_UPDATE_FIXTURES:-0}" = 1 ]; then
  f=$(ls "$OUT"/*/ip-link-netdevsim.json 2>/dev/null | head -1)
  if [ -n "$f" ]; then cp "$f" "$REPO/test/fixtures/ip-link-netdevsim.json" && echo "e2e: updated test/fixtures/ip-link-netdevsim.json"; fi
fi

# ---------------------------------------------------------------- summary
T_END=$(date +%s)
banner "e2e summary"
pass=0 fail=0
for x in "${SELECTED[@]}"; do
  r=""
  for d in "${BOOT_DIR[@]}"; do [ -f "$d/results/$x" ] && r=$(cat "$d/results/$x"); done
  if [ -z "$r" ]; then
    printf '  FAIL  %-20s no result: the guest died, timed out or never ran it (see %s/*/console.log)\n' "$x" "$OUT"
    fail=$((fail + 1)); continue
  fi
  read -r verdict np nf secs <<<"$r"
  printf '  %-4s  %-20s %3d passed, %d failed assertions, %6s s\n' "$verdict" "$x" "$np" "$nf" "$secs"
  if [ "$verdict" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo
sed 's/^/  boot /' "$OUT/boots.txt" 2>/dev/null
echo "  prepare $((T_READY - T_START)) s, total $((T_END - T_START)) s, run folder $OUT (console.log, testpmd logs per boot)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
