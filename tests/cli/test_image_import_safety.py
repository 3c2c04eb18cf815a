"""``image import`` leaves what docker leaves in its data root: a 0700 bundle no other host user
can reach (set-id files kept for the guest), a rootfs with the image's own modes, a size cap
that holds before a byte is written, and nothing at all when it refuses or fails."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kernel.images import importer
from kernel.images.importer import ImageImportError, import_image
from tests.cli.conftest import needs_root, sentrio
from tests.cli.test_image_import import LOWER, UPPER, docker_archive


def archive_of(path: Path, layers: list[bytes], config: dict[str, Any] | None = None) -> Path:
    """A docker-save archive whose layers are the given (possibly compressed) tar blobs."""
    with tarfile.open(path, "w") as tar:
        names = []
        for number, blob in enumerate(layers):
            names.append(f"layer{number}/layer.tar")
            _add(tar, names[-1], blob)
        _add(tar, "config.json", json.dumps(config or {"config": {}}).encode())
        _add(tar, "manifest.json", json.dumps([{"Config": "config.json", "Layers": names}]).encode())
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


class Zeros:
    """``size`` zero bytes to read, never all in memory at once."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, count: int = -1) -> bytes:
        count = self.left if count < 0 else min(count, self.left)
        self.left -= count
        return bytes(count)


def zero_bomb(size: int) -> bytes:
    """A gzip'ed layer holding one file of ``size`` zero bytes (1000:1 or so)."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = size
        tar.addfile(info, Zeros(size))  # type: ignore[arg-type]
    return raw.getvalue()


def many_files(count: int) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as compressed, tarfile.open(fileobj=compressed, mode="w|") as tar:
        for number in range(count):
            tar.addfile(tarfile.TarInfo(f"f{number}"))
    return raw.getvalue()


def small_layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        _add(tar, "hello", b"hello\n")
    return raw.getvalue()


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every byte of file data the importer writes, as its progress hears of it."""
    counts: list[int] = []

    class Counting(importer.Progress):
        def advance(self, count: int) -> None:
            counts.append(count)
            super().advance(count)

    monkeypatch.setattr(importer, "Progress", Counting)
    return counts


def test_a_gzip_bomb_is_refused_before_a_byte_is_written(tmp_path: Path, written: list[int]) -> None:
    bomb = zero_bomb(64 << 20)
    assert len(bomb) < (1 << 20)  # a small archive ...
    archive = archive_of(tmp_path / "bomb.tar", [small_layer(), bomb])
    with pytest.raises(ImageImportError) as refused:
        import_image(archive, tmp_path / "bundle", max_size=8 << 20)  # ... that would take 64 MiB
    assert str(refused.value) == "refusing the image: it would take more than 8.0 MiB on disk (--max-size)"
    assert sum(written) == len(b"hello\n")  # the first layer only: the bomb was counted, not unpacked
    assert sorted(os.listdir(tmp_path)) == ["bomb.tar"]  # and what was written is gone


def test_a_bomb_of_empty_files_counts_a_block_each(tmp_path: Path) -> None:
    archive = archive_of(tmp_path / "files.tar", [many_files(2000)])
    assert archive.stat().st_size < (1 << 20)
    with pytest.raises(ImageImportError, match="it would take more than 1.0 MiB on disk"):
        import_image(archive, tmp_path / "bundle", max_size=1 << 20)
    assert sorted(os.listdir(tmp_path)) == ["files.tar"]


def test_the_default_cap_is_the_free_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs(tmp_path)
    tight = os.statvfs_result((real.f_bsize, 4096, real.f_blocks, 3, 3, real.f_files, real.f_ffree,
                               real.f_favail, real.f_flag, real.f_namemax))  # three blocks free
    monkeypatch.setattr(importer.os, "statvfs", lambda path: tight)
    archive = docker_archive(tmp_path / "image.tar", [LOWER])
    with pytest.raises(ImageImportError) as refused:
        import_image(archive, tmp_path / "bundle")
    assert str(refused.value) == ("refusing the image: it would take more than 12.0 KiB on disk "
                                  f"(the free space of the file system of '{tmp_path}')")
    assert sorted(os.listdir(tmp_path)) == ["image.tar"]


def test_the_cli_shows_the_cap_and_refuses_a_bomb_in_one_line(tmp_path: Path) -> None:
    archive = archive_of(tmp_path / "bomb.tar", [zero_bomb(32 << 20)])
    result = sentrio("image", "import", "--max-size", "4m", str(archive), str(tmp_path / "bundle"))
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr == "sentrio: refusing the image: it would take more than 4.0 MiB on disk (--max-size)\n"
    assert sorted(os.listdir(tmp_path)) == ["bomb.tar"]


def test_the_bundle_is_0700_and_rootfs_keeps_the_images_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)  # a careful user's umask must not make the image unsearchable
    try:
        bundle = import_image(docker_archive(tmp_path / "image.tar", [LOWER, UPPER]), tmp_path / "b")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert stat.S_IMODE((bundle / "rootfs").stat().st_mode) == 0o755  # LOWER's "./" entry
    assert stat.S_IMODE((bundle / "rootfs" / "keep").stat().st_mode) == 0o750
    hard = (bundle / "rootfs" / "bin" / "hard").lstat()
    assert stat.S_IMODE(hard.st_mode) == 0o4755  # set-id kept, for the guest
    assert sorted(os.listdir(tmp_path)) == ["b", "image.tar"]  # the work directory was renamed


def test_a_rootfs_without_a_root_entry_is_0755_and_implied_directories_too(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        bundle = import_image(docker_archive(tmp_path / "image.tar", [[("a/b/file", "file", "x")]], {}),
                               tmp_path / "b")
    finally:
        os.umask(old_umask)
    for path in ("rootfs", "rootfs/a", "rootfs/a/b"):
        assert stat.S_IMODE((bundle / path).stat().st_mode) == 0o755, path


def test_an_image_root_entry_sets_the_rootfs_mode(tmp_path: Path) -> None:
    layers = [[("./", "dir", 0o711), ("etc/", "dir", 0o755)], [("./", "dir", 0o751)]]  # the last layer's wins
    bundle = import_image(docker_archive(tmp_path / "image.tar", layers, {}), tmp_path / "b")
    assert stat.S_IMODE((bundle / "rootfs").stat().st_mode) == 0o751


def test_an_existing_config_json_symlink_is_never_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").symlink_to(precious)
    with pytest.raises(ImageImportError, match="already exists and is not an empty directory"):
        import_image(docker_archive(tmp_path / "image.tar", [LOWER]), bundle)
    assert precious.read_text() == "keep me"
    assert os.readlink(bundle / "config.json") == str(precious)
    assert sorted(os.listdir(tmp_path)) == ["bundle", "image.tar", "precious"]


def test_dir_as_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "bundle").symlink_to(target)
    with pytest.raises(ImageImportError, match="already exists"):
        import_image(docker_archive(tmp_path / "image.tar", [LOWER]), tmp_path / "bundle")
    assert os.listdir(target) == []


def test_an_empty_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "bundle").mkdir(mode=0o755)
    bundle = import_image(docker_archive(tmp_path / "image.tar", [LOWER]), tmp_path / "bundle")
    assert sorted(os.listdir(bundle)) == ["config.json", "rootfs"]
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700


def test_a_failure_halfway_leaves_nothing(tmp_path: Path) -> None:
    """A bad second layer, after a first that made read-only directories."""
    layers = [[("ro/", "dir", 0o555), ("ro/inner/", "dir", 0o500), ("ro/inner/f", "file", "x")],
              [("../escape", "file", "x")]]
    with pytest.raises(ImageImportError, match="refusing"):
        import_image(docker_archive(tmp_path / "image.tar", layers), tmp_path / "deep" / "er" / "bundle")
    assert sorted(os.listdir(tmp_path)) == ["image.tar"]


@needs_root
def test_the_imported_bundle_runs_as_a_guest_user(tmp_path: Path, image: Path) -> None:
    """The 0700 bundle still serves its rootfs, and a non-root guest can search / and run."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, mode in (("./", 0o755), ("bin/", 0o755), ("etc/", 0o755)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        _add(tar, "bin/showenv", (image / "bin" / "showenv").read_bytes(), 0o755)
        _add(tar, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    archive = archive_of(tmp_path / "image.tar", [layer.getvalue()],
                         {"config": {"Entrypoint": ["/bin/showenv"], "Cmd": ["3"]}})
    bundle = import_image(archive, tmp_path / "bundle")
    result = sentrio("run", "-u", "1000:1000", str(bundle))
    assert result.returncode == 3, result.stderr
    assert "ids 1000 1000 1000 1000" in result.stdout.splitlines()
