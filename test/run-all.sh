#!/usr/bin/env bash
# Everything the project tests, from a fresh clone: system packages, npm ci, build, unit and
# integration tests (real netns/veth/IPAM/callers, as root), then the QEMU end-to-end suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "run-all.sh needs root (network namespaces, veth, podman, QEMU guest)" >&2
  exit 1
fi
bash test/system-deps.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run build                       # bundle + the shipped single executable (Bun-compiled)
npx tsc --noEmit -p .
npx vitest run test/unit
# integration (callers included) and reliability against the single executable users install
# (calls that need a test hook, e.g. crash injection, use the test-hooks bundle dist/test/dpdk-cni)
DPDK_CNI_BIN="$PWD/dist/dpdk-cni-linux-x64" npx vitest run test/integration test/reliability
# QEMU guest with real vfio-pci, vDPA and netdevsim devices (docs/e2e.md), driving the shipped
# executable (E2E_PLUGIN=bundle drives the bundle)
bash test/e2e/run.sh
# the node tools (bind/unbind with real effect, doctor) in the same kind of guest
VMH_TIMEOUT=900 bash test/e2e/vm/vm-run.sh test/e2e/vm/checks/tools.sh
# node apply (VF counts, drivers, vDPA, device plugin config) and reap in the guest: with an
# emulated IOMMU, and without one (the AWS EC2 shape: vfio-pci in no-IOMMU mode)
VMH_TIMEOUT=900 bash test/e2e/vm/vm-run.sh test/e2e/vm/checks/apply.sh
VMH_IOMMU=0 VMH_TIMEOUT=900 bash test/e2e/vm/vm-run.sh test/e2e/vm/checks/apply.sh
