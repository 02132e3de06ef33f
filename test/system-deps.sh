#!/usr/bin/env bash
# Debian packages the test suites need (idempotent; quick when everything is installed).
set -euo pipefail
PKGS=(
  iproute2 util-linux            # ip, nsenter
  containernetworking-plugins    # host-local, static, tuning, host-device (/usr/lib/cni)
  golang-go golang-github-appc-cni-dev   # the libcni caller test
  podman runc busybox-static     # the podman caller test (busybox also the containerd sandbox image)
  containerd                     # the containerd CRI caller test (with runc)
  binutils                       # strip, for the Node SEA kept for measurement (bench/sea/)
  qemu-user-static libc6-arm64-cross   # the arm64 build's smoke test; the no-AVX2 CPU check (x64)
  buildah                        # the OCI image (build/image.sh)
  time                           # /usr/bin/time for RSS figures
  tcpdump                        # the address-announcement test listens on the wire
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
# The QEMU end-to-end suite has its own list.
bash "$(dirname "$0")/e2e/vm/install-deps.sh"
