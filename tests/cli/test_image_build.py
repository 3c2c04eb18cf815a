"""``image build debian`` without the network: a stand-in debootstrap shows the caching and copying."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kernel.images import build
from kernel.images.build import ImageBuildError, build_debian

FAKE_DEBOOTSTRAP = """#!/bin/sh
# debootstrap --variant=minbase --include=PACKAGES SUITE TARGET MIRROR
echo "$@" >> "{log}"
mkdir -p "$4/etc" "$4/usr/bin"
echo "$3" > "$4/etc/debian_version"
ln -s usr/bin "$4/bin"
"""


@pytest.fixture
def fake_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "debootstrap"
    log = tmp_path / "calls.log"
    script.write_text(FAKE_DEBOOTSTRAP.format(log=log))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(build, "DEBIAN_CACHE", tmp_path / "cache")
    return log


def test_debootstrap_runs_once_and_the_cache_is_copied(fake_debootstrap: Path, tmp_path: Path) -> None:
    first = build_debian(tmp_path / "one", suite="bookworm")
    second = build_debian(tmp_path / "two", suite="bookworm")
    [call] = fake_debootstrap.read_text().splitlines()  # once: the second image is a copy
    options, suite, target, mirror = call.rsplit(" ", 3)
    assert (options, suite, mirror) == ("--variant=minbase --include=python3-minimal", "bookworm", build.DEBIAN_MIRROR)
    assert Path(target).parent == tmp_path / "cache"  # staged beside the cache, then renamed into it
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == ["debian-bookworm-python3-minimal"]
    cached = tmp_path / "cache" / "debian-bookworm-python3-minimal"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o755  # the image's /: guests that are not root walk it
    for root in (first, second):
        assert (root / "etc" / "debian_version").read_text() == "bookworm\n"
        assert os.readlink(root / "bin") == "usr/bin"
        assert not (root / ".complete").exists()


def test_a_failed_debootstrap_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "debootstrap").write_text("#!/bin/sh\nexit 3\n")
    (bin_dir / "debootstrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(build, "DEBIAN_CACHE", tmp_path / "cache")
    with pytest.raises(ImageBuildError, match="debootstrap failed with status 3"):
        build_debian(tmp_path / "img")
    assert not (tmp_path / "cache" / "debian-bookworm-python3-minimal" / ".complete").exists()
