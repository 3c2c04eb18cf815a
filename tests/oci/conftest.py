"""Fixtures of the OCI runtime tests: a busybox bundle, and ``sentrio`` as an engine runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox image the demo builds (``image build busybox``)."""
    from kernel.images.build import build_busybox

    root = tmp_path_factory.mktemp("oci-busybox") / "rootfs"
    build_busybox(root)
    return root


@pytest.fixture(scope="session")
def runtime_binary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An executable that is ``sentrio`` from this tree, as an engine's ``--runtime`` names it
    (engines run it with their own environment, so everything it needs is spelled out)."""
    directory = tmp_path_factory.mktemp("oci-bin")
    # Short: a control socket's path (this, an engine's 64-digit id, /control) must fit 108 bytes.
    runtime_dir = tempfile.mkdtemp(prefix="s-oci-", dir="/tmp")
    binary = directory / "sentrio"
    binary.write_text(f"#!/bin/sh\nexport PYTHONPATH={REPO} SENTRIO_RUNTIME_DIR={runtime_dir}\n"
                      f"exec {os.path.realpath(sys.executable)} -m kernel \"$@\"\n")
    binary.chmod(0o755)
    yield binary
    shutil.rmtree(runtime_dir, ignore_errors=True)


def make_bundle(directory: Path, rootfs: Path, args: list[str], **process: object) -> Path:
    """A bundle at ``directory`` whose config.json runs ``args`` from ``rootfs``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "ociVersion": "1.0.2",
        "process": {"args": args, "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], **process},
        "root": {"path": str(rootfs)},
        "hostname": "oci-test",
        "annotations": {"org.example.test": "yes"},
    }
    (directory / "config.json").write_text(json.dumps(config))
    return directory


class Runtime:
    """``sentrio --root ROOT ...`` as an engine calls it."""

    def __init__(self, binary: Path, root: Path) -> None:
        self.binary = binary
        self.root = root

    def __call__(self, *args: str, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("capture_output", True)
        return subprocess.run([str(self.binary), "--root", str(self.root), *args], text=True,
                              timeout=timeout, **kwargs)  # type: ignore[call-overload]

    def state(self, container_id: str) -> dict[str, object]:
        done = self("state", container_id)
        assert done.returncode == 0, done.stderr
        document: dict[str, object] = json.loads(done.stdout)
        return document


@pytest.fixture
def runtime(runtime_binary: Path, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(runtime_binary, tmp_path / "state")
    yield runtime
    if runtime.root.is_dir():  # nothing a test left running outlives it
        for name in os.listdir(runtime.root):
            runtime("delete", "--force", name)
