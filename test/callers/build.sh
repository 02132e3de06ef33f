#!/usr/bin/env bash
# Build the libcni caller (test/callers/libcni) offline, in GOPATH mode, against Debian's libcni
# (golang-github-appc-cni-dev: /usr/share/gocode). The binary stays out of git: it goes to
# $CNIDRIVER_OUT, default node_modules/.cache/dpdk-cni/cnidriver, and is rebuilt only when the
# source is newer. Prints the binary's path on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${CNIDRIVER_OUT:-$repo/node_modules/.cache/dpdk-cni/cnidriver}"
src="$here/libcni/main.go"
if [ ! -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ]; then
  echo "build.sh: Debian's libcni is missing: apt-get install golang-go golang-github-appc-cni-dev" >&2
  exit 1
fi
if [ ! -x "$out" ] || [ "$src" -nt "$out" ] || [ "$0" -nt "$out" ]; then
  mkdir -p "$(dirname "$out")"
  cache="$(dirname "$out")/go-build"
  (
    cd "$here/libcni"
    GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
      GOCACHE="$cache" go build -o "$out.tmp" . >&2
  )
  mv -f "$out.tmp" "$out"
fi
echo "$out"
