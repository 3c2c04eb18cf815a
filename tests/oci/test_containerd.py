"""containerd drives Sentrio: ``ctr run`` through the runc shim (io.containerd.runc.v2) with
``sentrio`` as its runc binary, against a chroot."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.conftest import needs_root

pytestmark = needs_root


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A containerd of its own (state, root and socket in a temporary directory); its address."""
    home = tmp_path_factory.mktemp("containerd")
    address = str(home / "containerd.sock")
    (home / "config.toml").write_text(
        f'version = 2\nroot = "{home}/root"\nstate = "{home}/state"\n'
        f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{address}"\n')
    log = open(home / "containerd.log", "w")
    daemon = subprocess.Popen(["containerd", "--config", str(home / "config.toml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["ctr", "--address", address, "version"], capture_output=True).returncode != 0:
            assert daemon.poll() is None, (home / "containerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "containerd did not come up"
            time.sleep(0.2)
        yield address
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        log.close()


def test_ctr_run_through_the_runc_shim(containerd: str, runtime_binary: Path, rootfs: Path) -> None:
    argv = ["sh", "-c", "echo from ctr; echo $((3 * 4)); ls /bin/sh; exit 6"]
    native = subprocess.run(["chroot", str(rootfs), *argv], capture_output=True, text=True, timeout=60)
    done = subprocess.run(["ctr", "--address", containerd, "run", "--rm", "--runc-binary", str(runtime_binary),
                           "--rootfs", str(rootfs), "sentrio-ctr-test", *argv],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180)
    assert (done.stdout, done.returncode) == (native.stdout, native.returncode) == (native.stdout, 6), done.stderr
