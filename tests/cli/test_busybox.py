"""``image build busybox``: Debian's static busybox with its applets, run as users would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kernel.images.build import HOST_BUSYBOX
from tests.cli.conftest import needs_root, sentrio

pytestmark = [needs_root, pytest.mark.skipif(not HOST_BUSYBOX.is_file(), reason="needs busybox-static "
                                                                                 "(bash scripts/setup.sh)")]


def test_the_image_has_busybox_and_its_applets(busybox: Path) -> None:
    assert os.readlink(busybox / "bin" / "sh") == "/bin/busybox"
    assert os.readlink(busybox / "usr" / "bin" / "env") == "/bin/busybox"
    assert (busybox / "bin" / "busybox").stat().st_mode & 0o111
    assert (busybox / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (busybox / "etc" / "passwd").read_text().startswith("root:x:0:0:")


def test_sh_computes_and_exits_with_its_status(busybox: Path) -> None:
    result = sentrio("run", str(busybox), "--", "sh", "-c", "echo $((6*7)); exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "42\n", "")


def test_applets_see_the_flags(busybox: Path) -> None:
    result = sentrio("run", "-w", "/tmp", "--hostname", "bb", "-e", "FOO=bar", "-u", "nobody", str(busybox), "--",
                     "sh", "-c", 'pwd; echo "$FOO $HOME $HOSTNAME"')  # builtins only: no fork yet
    assert result.returncode == 0, result.stderr
    assert result.stdout == "/tmp\nbar /nonexistent bb\n"
    result = sentrio("run", "--hostname", "bb", str(busybox), "--", "hostname")
    assert (result.returncode, result.stdout) == (0, "bb\n")


def test_the_cli_builds_it(tmp_path: Path) -> None:
    result = sentrio("image", "build", "busybox", str(tmp_path / "bb"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"busybox: image ready at {tmp_path / 'bb'}")
    assert (tmp_path / "bb" / "bin" / "busybox").is_file()


def _implemented(*names: str) -> bool:
    from kernel.syscalls import default_table

    return set(names) <= set(default_table().supported())


@pytest.mark.skipif(not _implemented("kill", "clone", "wait4", "execve"), reason="needs fork and kill (issue 4)")
def test_a_child_killed_by_sigkill_is_137(busybox: Path) -> None:
    """pid 1 cannot be killed from inside its namespace, so a child shell kills itself and the
    outer shell passes its 128+9 on, as a shell in docker would."""
    result = sentrio("run", str(busybox), "--", "sh", "-c", 'sh -c "kill -9 \\$\\$"; exit $?')
    assert result.returncode == 137, result.stderr
