#!/usr/bin/env bash
# Build the dpdk-cni container image offline with buildah and save it as an OCI archive:
#   dist/dpdk-cni-image-linux-x64.tar  (image localhost/dpdk-cni:<version>)
# No registry is needed: the base image is made FROM scratch out of this host's glibc and the
# dynamic loader — exactly the libraries `ldd` lists for the single executable (Bun links nothing
# else dynamically) —
# and the Containerfile is then built on it (BASE build-arg). With registry access the Containerfile's
# default base (gcr.io/distroless/cc-debian12) works too: see its header.
#
#   build/image.sh            # needs: buildah (apt), root, dist/dpdk-cni-linux-x64 (npm run build)
#   IMAGE_STORAGE=/var/lib/containers/storage build/image.sh   # keep the images in that store
#   kubectl/ctr: ctr -n k8s.io images import dist/dpdk-cni-image-linux-x64.tar
#                skopeo copy oci-archive:dist/dpdk-cni-image-linux-x64.tar docker://REGISTRY/dpdk-cni:TAG
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=x64
EXE="dist/dpdk-cni-linux-$ARCH"
OUT="dist/dpdk-cni-image-linux-$ARCH.tar"
VERSION=$(node -p 'require("./package.json").version')
TAG="localhost/dpdk-cni:$VERSION"
die() { echo "image.sh: ERROR: $*" >&2; exit 1; }

command -v buildah >/dev/null || die "buildah is not installed: apt-get install buildah"
[ "$(id -u)" = 0 ] || die "run as root (buildah's storage)"
[ -x "$EXE" ] || die "$EXE is missing: run npm run build"

# A private vfs store unless told otherwise: leaves the machine's container storage alone, and vfs
# works everywhere (no overlay mount needed).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dpdk-cni-image.XXXXXX")
STORE=${IMAGE_STORAGE:-$WORK/storage}
B=(buildah --root "$STORE" --runroot "$WORK/run" --storage-driver vfs)
ctr=""
cleanup() {
  [ -n "$ctr" ] && "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true
  if [ -z "${IMAGE_STORAGE:-}" ]; then
    "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. base: the loader and the libraries the executable links against, at the paths ldd reports
# (ldd lines: "libc.so.6 => /lib/.../libc.so.6 (0x...)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x...)")
# plus iproute2's ip and its libraries: the reaper (dpdk-cni reap, the DaemonSet's second container)
# restores VF settings and gives netdevs back their name/MAC/MTU with it
IP=$(command -v ip) || die "iproute2's ip is not installed (the reaper needs it in the image): apt-get install iproute2"
libs=$({ ldd "$EXE"; ldd "$IP"; } | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
grep -q ld-linux <<<"$libs" || die "ldd did not report the dynamic loader of $EXE"
[ -n "$libs" ] || die "ldd found no libraries for $EXE"
mkdir -p "$WORK/rootfs"
for l in $libs; do
  install -D -m 0755 "$(readlink -f "$l")" "$WORK/rootfs$l"
done
install -D -m 0755 "$(readlink -f "$IP")" "$WORK/rootfs/usr/sbin/ip"
mkdir -p "$WORK/rootfs/tmp" "$WORK/rootfs/etc"
chmod 1777 "$WORK/rootfs/tmp"
printf 'root:x:0:0:root:/:/usr/bin/dpdk-cni\n' >"$WORK/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$WORK/rootfs/etc/group"
GLIBC=$(ldd --version | awk 'NR==1{print $NF}')
BASE="localhost/dpdk-cni-base:glibc-$GLIBC"
ctr=$("${B[@]}" from scratch)
"${B[@]}" copy "$ctr" "$WORK/rootfs/" / >/dev/null
"${B[@]}" config --os linux --arch amd64 \
  --label "org.opencontainers.image.description=glibc $GLIBC from $(. /etc/os-release; echo "$PRETTY_NAME")" "$ctr"
"${B[@]}" commit --quiet --rm "$ctr" "$BASE" >/dev/null
ctr=""

# 2. the image, from the Containerfile
"${B[@]}" build --quiet --pull=never --layers=false \
  --build-arg "BASE=$BASE" --build-arg "EXE=$EXE" \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.title=dpdk-cni" \
  -f Containerfile -t "$TAG" . >/dev/null

# 3. the archive
rm -f "$OUT"
"${B[@]}" push --quiet "$TAG" "oci-archive:$OUT:dpdk-cni:$VERSION"
echo "image.sh: $OUT ($(du -m "$OUT" | cut -f1) MB): $TAG on $BASE"
