#!/bin/sh
# Stage 2 of the guest boot: runs as PID 1 under the host's /bin/sh, after
# guest/init switched root to the overlay of the host's /. vm-run.sh copies
# this file into the run folder at every boot (no rebuild needed to change it).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VMH_SHARE= VMH_KV= VMH_HUGEPAGES=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vmh.share=*) VMH_SHARE=${arg#vmh.share=} ;;
    vmh.kv=*) VMH_KV=${arg#vmh.kv=} ;;
    vmh.hugepages=*) VMH_HUGEPAGES=${arg#vmh.hugepages=} ;;
  esac
done

poweroff_now() {
  sync
  echo o > /proc/sysrq-trigger
  sleep 30 2>/dev/null
}

hostname vmh 2>/dev/null
echo /sbin/modprobe > /proc/sys/kernel/modprobe 2>/dev/null
ip link set lo up
modprobe virtio_net || echo "VMH_WARN: modprobe virtio_net failed"
if [ "${VMH_HUGEPAGES:-0}" -gt 0 ] 2>/dev/null; then
  echo "$VMH_HUGEPAGES" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  got=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)
  [ "$got" = "$VMH_HUGEPAGES" ] || echo "VMH_WARN: asked for $VMH_HUGEPAGES hugepages, got $got"
fi

echo "VMH_READY uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /
bash "$VMH_SHARE/cmd.sh" </dev/null
rc=$?
echo "$rc" > "$VMH_SHARE/rc"
echo "VMH_RC=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff_now
