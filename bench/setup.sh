#!/bin/sh
# Install what the benchmarks need from Debian, idempotently: gVisor's runsc, and gcc with the
# static C library (libc6-dev) to build the benchmark programs, debootstrap for the real-workload image. Runs apt-get only when a package
# is missing. Needs root (the benchmarks do too: chroot, runsc).
set -eu

PACKAGES="runsc gcc libc6-dev coreutils debootstrap"

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    echo "bench/setup.sh: all present ($PACKAGES)"
    exit 0
fi

echo "bench/setup.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
