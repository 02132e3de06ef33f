#!/usr/bin/env bash
# Installs the host packages the QEMU e2e harness needs (Debian bookworm, root).
# Idempotent: when everything is already installed it only runs dpkg-query (< 1 s).
set -euo pipefail

PKGS=(
  qemu-system-x86   # qemu-system-x86_64 (TCG)
  busybox-static    # /init of the initramfs
  kmod              # depmod/modprobe/modinfo (host depmod + guest modprobe, via 9p root)
  cpio              # initramfs
  xz-utils          # .ko.xz and linux-source tarball
  gzip
  dpdk              # dpdk-devbind.py and the PMDs
  dpdk-dev          # dpdk-testpmd
  dwarves           # pahole: BTF for out-of-tree modules
  bc make gcc-12    # kernel module build (Debian builds 6.12 with gcc-12)
  libc6-dev         # headers for the kbuild host tools
  libelf-dev        # objtool/resolve_btfids host tools when needed
  iproute2          # ip, bridge, devlink, vdpa (guest uses the host's userland)
  ethtool
  pciutils          # lspci in the guest
  procps            # ps, sysctl
  dpkg-dev          # dpkg-deb (always present on Debian, listed for clarity)
  ca-certificates
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$st" == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} host packages already installed"
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600)
# Refresh the lists only when they are missing or older than a day.
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
  "${APT[@]}" update -q
fi
if ! "${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"; then
  "${APT[@]}" update -q
  "${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps: done"
