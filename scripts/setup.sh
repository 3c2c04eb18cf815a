#!/usr/bin/env bash
# Install what Sentrio and its tests need, from Debian and PyPI. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
command -v musl-gcc >/dev/null || need_apt+=(musl-tools)
command -v readelf >/dev/null || need_apt+=(binutils)
[ -x /bin/busybox ] || need_apt+=(busybox-static)   # python -m kernel image build busybox
command -v podman >/dev/null || need_apt+=(podman)       # tests/oci: engines drive sentrio as their runtime
command -v containerd >/dev/null || need_apt+=(containerd)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)  # tests/ptrace/test_debian.py: Debian with strace and gdb
command -v runsc >/dev/null || need_apt+=(runsc)     # python -m tests.compat.cpython and bench/: gVisor beside us
# Python.h, to build platforms/ptrace/_fastptrace.c (Debian's python3 ships it apart; pyenv's has it)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || need_apt+=(python3-dev)
if ((${#need_apt[@]})); then
    echo "setup: installing ${need_apt[*]} from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# (jsonschema: tests/oci validates `sentrio state` against the runtime spec's schema; matplotlib:
# bench's plots and their test; platforms.ptrace._fastptrace and kernel/zygote/sentrio-wait: the C
# ptrace call and the served client's waiter, which pip builds with the package, so an install
# from before they existed, or a waiter older than its source, is redone)
if ! python3 -c "import trio, msgpack, ptrace, anyio, setproctitle, pytest_trio, pytest_timeout, hypothesis, ruff, mypy, jsonschema, matplotlib, kernel, platforms.ptrace._fastptrace" 2>/dev/null \
   || [ ! -x kernel/zygote/sentrio-wait ] || [ kernel/zygote/waiter.c -nt kernel/zygote/sentrio-wait ] \
   || [ "$(python3 -c 'import kernel, os; print(os.path.dirname(os.path.dirname(kernel.__file__)))' 2>/dev/null)" != "$PWD" ]; then
    echo "setup: installing Sentrio and its test dependencies with pip" >&2
    python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
fi
