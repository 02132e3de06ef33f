#!/usr/bin/env bash
# Prepares everything the QEMU e2e harness (vm-run.sh) needs, in a cache folder
# outside the repo:
#   1. downloads Debian's 6.12 kernel image + matching headers/kbuild/source
#      (apt-get download + dpkg-deb -x; nothing is installed into the host),
#   2. builds the modules Debian's config leaves out (netdevsim, vp_vdpa, vringh,
#      vdpa_sim, vdpa_sim_net, and vfio.ko with CONFIG_VFIO_NOIOMMU) against the
#      headers, installs them into <kernel>/lib/modules/$KV/updates, runs depmod,
#   3. builds the initramfs (busybox + 9p/overlay modules + guest/init).
# Each step leaves a stamp, so an interrupted run resumes; a complete cache makes
# this a no-op (well under a second). Fails loudly (non-zero + message) otherwise.
#
# Env: DPDK_CNI_VM_CACHE   cache folder (default /var/cache/dpdk-cni-vm)
#      VMH_KERNEL_ABI      e.g. 6.12.117+deb12-amd64 (default: what linux-image-6.12-amd64 depends on)
#      VMH_KEEP_DEBS=1     keep the downloaded .deb files (default: deleted once the cache is complete)
#      VMH_KEEP_BUILD=1    keep the extracted headers and sources (default: deleted after the build)
#      VMH_FORCE=1         rebuild everything
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${DPDK_CNI_VM_CACHE:-/var/cache/dpdk-cni-vm}
META_PKG=linux-image-6.12-amd64
EXTRA_KOS=(netdevsim vp_vdpa vringh vdpa_sim vdpa_sim_net vfio)
INITRD_KOS=(netfs 9pnet 9pnet_virtio 9p overlay)

STEP=start
log() { echo "prepare: $*" >&2; }
die() { echo "prepare: ERROR: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc = 0 ] || echo "prepare: FAILED (exit $rc) in step: $STEP — cache: $CACHE" >&2' EXIT

# Key of the harness inputs that end up in the cache (init script and this file).
harness_key() {
  cat "$HERE/prepare.sh" "$HERE/guest/init" | sha256sum | cut -c1-16
}
KEY=$(harness_key)

# ---------- fast path: complete cache ----------
ready_ok() {
  [ -f "$CACHE/READY" ] || return 1
  # shellcheck disable=SC1091
  ( . "$CACHE/READY"
    [ "$KEY" = "$HARNESS_KEY" ] || exit 1
    [ -z "${VMH_KERNEL_ABI:-}" ] || [ "$VMH_KERNEL_ABI" = "$KV" ] || exit 1
    [ -f "$CACHE/kernel/boot/vmlinuz-$KV" ] || exit 1
    [ -f "$CACHE/initramfs.cpio.gz" ] || exit 1
    [ -f "$CACHE/kernel/lib/modules/$KV/modules.dep" ] || exit 1
    for m in "${EXTRA_KOS[@]}"; do [ -f "$CACHE/kernel/lib/modules/$KV/updates/$m.ko" ] || exit 1; done
  )
}
if [ "${VMH_FORCE:-0}" != 1 ] && ready_ok; then
  . "$CACHE/READY"
  log "cache complete: $CACHE (kernel $KV, package $KVER)"
  exit 0
fi

# ---------- slow path ----------
for t in apt-get apt-cache dpkg-deb depmod modinfo cpio gzip xz busybox make gcc-12 pahole strip flock sha256sum; do
  command -v "$t" >/dev/null || die "host tool '$t' missing — run $HERE/install-deps.sh"
done
[ -f /bin/busybox ] && file_is_static=$(ldd /bin/busybox 2>&1 || true)
case "${file_is_static:-}" in *"not a dynamic"*|*"statically linked"*) ;; *) die "/bin/busybox is not static — install busybox-static ($HERE/install-deps.sh)";; esac

mkdir -p "$CACHE" || die "cannot create cache folder $CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"
# another prepare may have completed it while we waited
if [ "${VMH_FORCE:-0}" != 1 ] && ready_ok; then . "$CACHE/READY"; log "cache complete: $CACHE (kernel $KV)"; exit 0; fi
rm -f "$CACHE/READY"
if [ "${VMH_FORCE:-0}" = 1 ]; then
  log "VMH_FORCE=1: wiping $CACHE"
  find "$CACHE" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
fi
T0=$(date +%s)

# ---------- 1. resolve the kernel package ----------
STEP="resolve kernel package"
APT=(apt-get -o DPkg::Lock::Timeout=600 -q)
resolve_abi() {
  apt-cache depends "$META_PKG" 2>/dev/null | awk '/Depends: linux-image-6\./{print $2; exit}' | sed 's/^linux-image-//'
}
KV=${VMH_KERNEL_ABI:-}
if [ -z "$KV" ]; then
  KV=$(resolve_abi || true)
  if [ -z "$KV" ]; then
    log "apt does not know $META_PKG yet — apt-get update"
    "${APT[@]}" update >&2 || die "apt-get update failed"
    KV=$(resolve_abi || true)
  fi
fi
[ -n "$KV" ] || die "cannot resolve the kernel ABI from $META_PKG (is bookworm-security in the apt sources?)"
KVER=$(apt-cache show "linux-image-$KV" 2>/dev/null | awk '/^Version:/ && !v {v=$2} END {print v}' || true)
[ -n "$KVER" ] || die "apt-cache has no version for linux-image-$KV"
KBASE=${KV%-amd64}                          # 6.12.117+deb12
SERIES=$(echo "$KV" | cut -d. -f1,2)        # 6.12
log "kernel $KV, package version $KVER"

PKGS=("linux-image-$KV" "linux-headers-$KV" "linux-headers-$KBASE-common" "linux-kbuild-$KBASE" "linux-source-$SERIES")
DEBS="$CACHE/debs"
KROOT="$CACHE/kernel"
HROOT="$CACHE/headers"
SRC="$CACHE/src"
BUILD="$CACHE/build"
MODDIR="$KROOT/lib/modules/$KV"
HDIR="$HROOT/usr/src/linux-headers-$KV"

# A stamp records KV+version so a new kernel invalidates old steps.
STAMP_VAL="$KV $KVER"
done_step() { [ -f "$1" ] && [ "$(cat "$1")" = "$STAMP_VAL" ]; }
mark_step() { echo "$STAMP_VAL" >"$1"; }

deb_of() { local f; for f in "$DEBS/$1"_*.deb; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 0; }
need_debs() {
  local missing=()
  for p in "$@"; do
    local f; f=$(deb_of "$p")
    if [ -z "$f" ] || ! dpkg-deb --info "$f" >/dev/null 2>&1 || [ "$(dpkg-deb -f "$f" Version)" != "$KVER" ]; then
      rm -f "$DEBS/$p"_*.deb; missing+=("$p=$KVER")
    fi
  done
  [ ${#missing[@]} = 0 ] && return 0
  STEP="download ${missing[*]}"
  mkdir -p "$DEBS"
  log "downloading ${missing[*]}"
  # download into a folder _apt can write to (avoids the unsandboxed warning)
  chmod 0777 "$DEBS" 2>/dev/null || true
  ( cd "$DEBS" && "${APT[@]}" download "${missing[@]}" >&2 ) || die "apt-get download failed for: ${missing[*]}"
  for p in "$@"; do [ -n "$(deb_of "$p")" ] || die "download did not produce $p"; done
}

# ---------- 2. kernel image ----------
if ! done_step "$KROOT/.stamp"; then
  need_debs "linux-image-$KV"
  STEP="extract linux-image-$KV"
  rm -rf "$KROOT"; mkdir -p "$KROOT"
  dpkg-deb -x "$(deb_of "linux-image-$KV")" "$KROOT"
  [ -f "$KROOT/boot/vmlinuz-$KV" ] || die "no boot/vmlinuz-$KV in linux-image-$KV"
  [ -d "$MODDIR/kernel" ] || die "no lib/modules/$KV/kernel in linux-image-$KV"
  mark_step "$KROOT/.stamp"
  rm -f "$CACHE/.stamp-modules" "$CACHE/.stamp-initramfs"
fi
for o in VFIO VFIO_PCI VDPA VHOST_VDPA VIRTIO_VDPA VIRTIO_PCI HUGETLBFS INTEL_IOMMU; do
  grep -Eq "^CONFIG_$o=[ym]" "$KROOT/boot/config-$KV" || die "kernel $KV lacks CONFIG_$o — the harness needs it"
done

# Steps 3-5 (headers, sources, build) only run while the extra modules are missing;
# headers and sources are deleted afterwards (VMH_KEEP_BUILD=1 keeps them).
NEED_MODULES=0
done_step "$CACHE/.stamp-modules" && [ -d "$MODDIR/updates" ] || NEED_MODULES=1

# ---------- 3. headers + kbuild ----------
if [ $NEED_MODULES = 1 ] && ! done_step "$HROOT/.stamp"; then
  need_debs "linux-headers-$KV" "linux-headers-$KBASE-common" "linux-kbuild-$KBASE"
  STEP="extract headers"
  rm -rf "$HROOT"; mkdir -p "$HROOT"
  for p in "linux-headers-$KV" "linux-headers-$KBASE-common" "linux-kbuild-$KBASE"; do
    dpkg-deb -x "$(deb_of "$p")" "$HROOT"
  done
  [ -f "$HDIR/Makefile" ] || die "no $HDIR/Makefile"
  # the arch Makefile includes the common one by absolute path: point it at the extracted copy
  sed -i "s|/usr/src/linux-headers-$KBASE-common/|$HROOT/usr/src/linux-headers-$KBASE-common/|" "$HDIR/Makefile"
  grep -q "$HROOT" "$HDIR/Makefile" || die "could not rewrite $HDIR/Makefile"
  [ -x "$HDIR/scripts/mod/modpost" ] || die "no modpost in the extracted kbuild ($HDIR/scripts/mod/modpost)"
  mark_step "$HROOT/.stamp"
  rm -f "$CACHE/.stamp-modules"
fi

# ---------- 4. the few source folders we need ----------
if [ $NEED_MODULES = 1 ] && ! done_step "$SRC/.stamp"; then
  need_debs "linux-source-$SERIES"
  STEP="extract linux-source-$SERIES (drivers/{net/netdevsim,vdpa,vhost,vfio})"
  rm -rf "$SRC" "$SRC.tmp"; mkdir -p "$SRC.tmp"
  log "extracting the needed source folders (~10 s)"
  dpkg-deb --fsys-tarfile "$(deb_of "linux-source-$SERIES")" \
    | tar -x -O "./usr/src/linux-source-$SERIES.tar.xz" \
    | xz -dc -T2 \
    | tar -x -C "$SRC.tmp" --strip-components=1 --wildcards \
        "linux-source-$SERIES/drivers/net/netdevsim/*" "linux-source-$SERIES/drivers/vdpa/*" \
        "linux-source-$SERIES/drivers/vhost/*" "linux-source-$SERIES/drivers/vfio/*"
  for f in drivers/net/netdevsim/netdev.c drivers/vdpa/virtio_pci/vp_vdpa.c drivers/vhost/vringh.c \
           drivers/vdpa/vdpa_sim/vdpa_sim.c drivers/vdpa/vdpa_sim/vdpa_sim_net.c drivers/vfio/vfio_main.c; do
    [ -f "$SRC.tmp/$f" ] || die "linux-source-$SERIES lacks $f"
  done
  mv "$SRC.tmp" "$SRC"
  mark_step "$SRC/.stamp"
  rm -f "$CACHE/.stamp-modules"
fi

# ---------- 5. build the extra modules ----------
if [ $NEED_MODULES = 1 ]; then
  STEP="build extra modules"
  rm -rf "$BUILD"; mkdir -p "$BUILD"
  cp -a "$SRC/drivers/net/netdevsim" "$BUILD/netdevsim"          # upstream Makefile, CONFIG_NETDEVSIM=m below
  cp -a "$SRC/drivers/vdpa/virtio_pci" "$BUILD/vp_vdpa"          # upstream Makefile, CONFIG_VP_VDPA=m
  mkdir -p "$BUILD/vdpa_sim" "$BUILD/vringh" "$BUILD/vfio"
  cp -a "$SRC/drivers/vdpa/vdpa_sim/"{vdpa_sim.c,vdpa_sim.h,vdpa_sim_net.c} "$BUILD/vdpa_sim/"
  echo 'obj-m += vdpa_sim.o vdpa_sim_net.o' >"$BUILD/vdpa_sim/Kbuild"
  cp -a "$SRC/drivers/vhost/vringh.c" "$BUILD/vringh/"
  echo 'obj-m += vringh.o' >"$BUILD/vringh/Kbuild"
  cp -a "$SRC/drivers/vfio/"*.c "$SRC/drivers/vfio/"*.h "$BUILD/vfio/"
  cat >"$BUILD/vfio/Kbuild" <<'KB'
# vfio.ko as Debian builds it, plus the no-IOMMU mode (vfio.ko-internal, see drivers/vfio/vfio.h)
ccflags-y += -DCONFIG_VFIO_NOIOMMU=1
obj-m += vfio.o
vfio-y += vfio_main.o
vfio-$(CONFIG_VFIO_DEVICE_CDEV) += device_cdev.o
vfio-$(CONFIG_VFIO_GROUP) += group.o
vfio-$(CONFIG_IOMMUFD) += iommufd.o
vfio-$(CONFIG_VFIO_CONTAINER) += container.o
vfio-$(CONFIG_VFIO_VIRQFD) += virqfd.o
vfio-$(CONFIG_VFIO_DEBUGFS) += debugfs.o
KB
  echo 'obj-m += netdevsim/ vp_vdpa/ vringh/ vdpa_sim/ vfio/' >"$BUILD/Kbuild"
  log "building ${EXTRA_KOS[*]} (~40-60 s)"
  if ! make -C "$HDIR" M="$BUILD" -j"$(nproc)" \
        CONFIG_NETDEVSIM=m CONFIG_VP_VDPA=m \
        >"$CACHE/build.log" 2>&1; then
    tail -40 "$CACHE/build.log" >&2
    die "module build failed — full log: $CACHE/build.log"
  fi
  for m in "${EXTRA_KOS[@]}"; do
    f=$(find "$BUILD" -name "$m.ko" | head -1)
    [ -n "$f" ] || die "build produced no $m.ko (log: $CACHE/build.log)"
    vm=$(modinfo -F vermagic "$f")
    case "$vm" in "$KV "*) ;; *) die "$m.ko has vermagic '$vm', expected $KV";; esac
  done
  STEP="install extra modules + depmod"
  rm -rf "$MODDIR/updates"; mkdir -p "$MODDIR/updates"
  for m in "${EXTRA_KOS[@]}"; do
    cp "$(find "$BUILD" -name "$m.ko" | head -1)" "$MODDIR/updates/"
    strip --strip-debug "$MODDIR/updates/$m.ko" || die "strip $m.ko failed"
  done
  depmod -b "$KROOT" "$KV" || die "depmod failed"
  for m in "${EXTRA_KOS[@]}"; do
    modinfo -b "$KROOT" -k "$KV" -n "$m" | grep -q "/updates/$m.ko$" \
      || die "depmod does not resolve $m to updates/$m.ko"
  done
  modinfo -b "$KROOT" -k "$KV" -F parm vfio | grep -q enable_unsafe_noiommu_mode \
    || die "rebuilt vfio.ko lacks enable_unsafe_noiommu_mode"
  mark_step "$CACHE/.stamp-modules"
fi

# ---------- 6. initramfs ----------
INITRD_KEY="$STAMP_VAL $KEY"
if ! { [ -f "$CACHE/.stamp-initramfs" ] && [ "$(cat "$CACHE/.stamp-initramfs")" = "$INITRD_KEY" ] && [ -f "$CACHE/initramfs.cpio.gz" ]; }; then
  STEP="build initramfs"
  STAGE="$CACHE/initramfs.tmp"
  rm -rf "$STAGE"; mkdir -p "$STAGE"/{bin,dev,proc,sys,modules,newroot}
  cp /bin/busybox "$STAGE/bin/busybox"
  cp "$HERE/guest/init" "$STAGE/init"; chmod 0755 "$STAGE/init"
  for m in "${INITRD_KOS[@]}"; do
    f=$(modinfo -b "$KROOT" -k "$KV" -n "$m") || die "module $m not found in $MODDIR"
    [ "$f" != "(builtin)" ] || continue
    case "$f" in
      *.ko.xz) xz -dc "$f" >"$STAGE/modules/$m.ko" ;;
      *.ko) cp "$f" "$STAGE/modules/$m.ko" ;;
      *) die "unexpected module file $f" ;;
    esac
  done
  ( cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet ) | gzip -6 >"$CACHE/initramfs.cpio.gz.tmp"
  mv "$CACHE/initramfs.cpio.gz.tmp" "$CACHE/initramfs.cpio.gz"
  rm -rf "$STAGE"
  echo "$INITRD_KEY" >"$CACHE/.stamp-initramfs"
fi

# ---------- done ----------
STEP="finish"
if [ "${VMH_KEEP_DEBS:-0}" != 1 ]; then rm -rf "$DEBS"; fi
rm -rf "$BUILD"
if [ "${VMH_KEEP_BUILD:-0}" != 1 ]; then rm -rf "$HROOT" "$SRC"; fi
cat >"$CACHE/READY" <<EOF
# written by test/e2e/vm/prepare.sh — sourced by vm-run.sh
KV='$KV'
KVER='$KVER'
HARNESS_KEY='$KEY'
KERNEL='$KROOT/boot/vmlinuz-$KV'
INITRD='$CACHE/initramfs.cpio.gz'
KROOT='$KROOT'
EOF
ready_ok || die "cache still incomplete after the build (bug)"
log "done in $(( $(date +%s) - T0 )) s: $CACHE ($(du -sh "$CACHE" | cut -f1))"
