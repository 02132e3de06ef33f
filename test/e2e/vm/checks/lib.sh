# Shared by the guest-side checks (smoke.sh, tools.sh, apply.sh): sourced, not run. The guest sees the
# host's / read-only over 9p, so the checks source this file from where they lie.
PASS=0 FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
# check "description" command...   (command output goes to the console on failure)
check() {
  local d=$1; shift
  local out
  if out=$("$@" 2>&1); then ok "$d"; else bad "$d"; [ -n "$out" ] && printf '       %s\n' "${out//$'\n'/$'\n'       }"; fi
}
section() { echo "=== $* (uptime $(cut -d' ' -f1 /proc/uptime))"; }
# netdev name of a virtio-net PCI function (empty if it has none)
netdev_of() { ls /sys/bus/pci/devices/"$1"/virtio*/net/ 2>/dev/null | head -1; }
driver_of() { basename "$(readlink /sys/bus/pci/devices/"$1"/driver 2>/dev/null)" 2>/dev/null; }
# run the tool ($BIN), keep stdout+stderr and the exit code: T <args...>; then $RC and $TOUT
T() { TOUT=$("$BIN" "$@" 2>&1); RC=$?; }
# expect_rc <rc> <description> <args...>
expect_rc() {
  local want=$1 d=$2; shift 2
  T "$@"
  if [ "$RC" = "$want" ]; then ok "$d (exit $RC)"; else bad "$d: exit $RC, wanted $want"; printf '       %s\n' "${TOUT//$'\n'/$'\n'       }"; fi
}
has() { grep -qF -- "$1" <<<"$TOUT"; }
show() { echo "$TOUT" | sed 's/^/       | /'; }
