#!/usr/bin/env bash
# Runs e2e scenarios INSIDE the vm-run.sh guest (test/e2e/run.sh boots it):
#   guest-main.sh <scenario-id>...   e.g. s4-kernel-netdev s1-vfio-iommu
# Each scenario runs in its own subshell with its own counters and writes one line to
# $VMH_RUN/results/<id>:  "<PASS|FAIL> <passed> <failed> <seconds>". A scenario that dies or
# never finishes writes nothing, which the host runner reports as a failure.
set -uo pipefail
if [ "${VMH_GUEST:-0}" != 1 ]; then
  echo "guest-main.sh: refusing to run outside the vm-run.sh guest (it rebinds PCI devices)" >&2
  exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
for f in "$HERE"/s[0-9]-*.sh; do . "$f"; done
mkdir -p "$VMH_RUN/results"
echo "e2e guest: kernel $(uname -r), $IOMMU_MODE, plugin $E2E_BIN, scenarios: $*"

rc=0
for id in "$@"; do
  fn=scenario_${id//-/_}
  echo "=== $id (uptime $(cut -d' ' -f1 /proc/uptime))"
  if ! declare -F "$fn" >/dev/null; then
    echo "FAIL - unknown scenario $id"; echo "FAIL 0 1 0" >"$VMH_RUN/results/$id"; rc=1; continue
  fi
  t0=$(date +%s.%N)
  (
    S_PASS=0 S_FAIL=0 CNI_CALLS=0 CNI_TOTAL_MS=0
    trap 'stop_bg' EXIT
    "$fn"
    cleanup=cleanup_${id//-/_}
    if declare -F "$cleanup" >/dev/null; then "$cleanup" >/dev/null 2>&1; fi
    [ "$S_FAIL" = 0 ] && [ "$S_PASS" -gt 0 ] && v=PASS || v=FAIL
    secs=$(echo "$(date +%s.%N) - $t0" | bc)
    printf '%s %d %d %.1f\n' "$v" "$S_PASS" "$S_FAIL" "$secs" >"$VMH_RUN/results/$id"
    avg=0; [ "$CNI_CALLS" -gt 0 ] && avg=$((CNI_TOTAL_MS / CNI_CALLS))
    echo "=== $id: $v ($S_PASS passed, $S_FAIL failed, ${secs%.*} s; $CNI_CALLS plugin runs, mean ${avg} ms)"
    [ "$v" = PASS ]
  ) || rc=1
done
exit $rc
