"""``image import``: docker-save and OCI-layout archives built here, unpacked to an exact tree;
archives that try to write outside DIR are refused and write nothing there."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kernel.images.importer import ImageImportError, import_image
from tests.cli.conftest import sentrio

Entry = tuple[str, str, Any]  # (name, kind, content / link target), kind in file|dir|symlink|hardlink


def layer_tar(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                data = value.encode() if isinstance(value, str) else value[0].encode()
                info.size = len(data)
                info.mode = 0o644 if isinstance(value, str) else value[1]
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, value or 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, value
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, value
            tar.addfile(info)
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


IMAGE_CONFIG = {"architecture": "amd64", "os": "linux", "config": {
    "Entrypoint": ["/bin/tool"], "Cmd": ["--flag"], "Env": ["PATH=/bin", "X=1"],
    "WorkingDir": "/keep", "User": "app"}}


def docker_archive(path: Path, layers: list[list[Entry]], config: dict[str, Any] = IMAGE_CONFIG) -> Path:
    with tarfile.open(path, "w") as tar:
        names = []
        for number, entries in enumerate(layers):
            names.append(f"layer{number}/layer.tar")
            _add(tar, names[-1], layer_tar(entries))
        _add(tar, "config.json", json.dumps(config).encode())
        _add(tar, "manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["t:latest"],
                                                "Layers": names}]).encode())
    return path


def oci_archive(path: Path, layers: list[list[Entry]], config: dict[str, Any] = IMAGE_CONFIG) -> Path:
    """An OCI image layout: an index pointing at a multi-platform index, then gzip layers."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer_descriptors = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          "digest": blob(gzip.compress(layer_tar(entries)))} for entries in layers]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": blob(json.dumps(config).encode())},
                "layers": layer_descriptors}
    arm = {"schemaVersion": 2, "config": {"digest": blob(b"{}")}, "layers": []}
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"digest": blob(json.dumps(arm).encode()), "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": blob(json.dumps(manifest).encode()), "platform": {"os": "linux", "architecture": "amd64"}}]}
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": blob(json.dumps(inner).encode())}]}
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            _add(tar, "blobs/sha256/" + digest.removeprefix("sha256:"), data)
    return path


LOWER: list[Entry] = [
    ("./", "dir", 0o755),
    ("etc/", "dir", 0o755),
    ("etc/passwd", "file", "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"),
    ("etc/removed", "file", "gone soon"),
    ("etc/removed-dir/", "dir", 0o755),
    ("etc/removed-dir/inner", "file", "gone too"),
    ("keep/", "dir", 0o750),
    ("keep/old", "file", "old"),
    ("opaque/", "dir", 0o755),
    ("opaque/lower", "file", "hidden by the opaque marker"),
    ("opaque/sub/", "dir", 0o755),
    ("opaque/sub/deeper", "file", "also hidden"),
    ("bin/", "dir", 0o755),
    ("bin/tool", "file", ("lower tool", 0o4755)),
    ("bin/hard", "hardlink", "bin/tool"),
    ("bin/link", "symlink", "tool"),
    ("bin/abs", "symlink", "/etc/passwd"),
]
UPPER: list[Entry] = [
    ("etc/.wh.removed", "file", ""),
    ("etc/.wh.removed-dir", "file", ""),
    ("opaque/", "dir", 0o755),
    ("opaque/upper", "file", "from the upper layer"),
    ("opaque/.wh..wh..opq", "file", ""),
    ("keep/new", "file", "new"),
    ("bin/tool", "file", ("upper tool", 0o755)),
    ("etc/.wh.never-existed", "file", ""),
]
EXPECTED = {
    "bin": ("dir", 0o755), "bin/abs": ("symlink", "/etc/passwd"), "bin/hard": ("file", "lower tool", 0o4755),
    "bin/link": ("symlink", "tool"), "bin/tool": ("file", "upper tool", 0o755),
    "etc": ("dir", 0o755), "etc/passwd": ("file", LOWER[2][2], 0o644),
    "keep": ("dir", 0o750), "keep/new": ("file", "new", 0o644), "keep/old": ("file", "old", 0o644),
    "opaque": ("dir", 0o755), "opaque/upper": ("file", "from the upper layer", 0o644),
}


def tree(root: Path) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[key] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                found[key] = ("file", path.read_text(), stat.S_IMODE(info.st_mode))
    return found


@pytest.mark.parametrize("make", [docker_archive, oci_archive])
def test_two_layers_with_whiteouts_import_to_the_exact_tree(tmp_path: Path, make: Any) -> None:
    archive = make(tmp_path / "image.tar", [LOWER, UPPER])
    bundle = import_image(archive, tmp_path / "bundle")
    assert tree(bundle / "rootfs") == EXPECTED
    assert (bundle / "rootfs" / "bin" / "hard").stat().st_mtime == 1_700_000_000
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"] == {"terminal": False, "user": {"uid": 1000, "gid": 1001},
                                 "env": ["PATH=/bin", "X=1"], "cwd": "/keep", "args": ["/bin/tool", "--flag"]}
    assert config["root"] == {"path": "rootfs", "readonly": False}
    assert sorted(os.listdir(bundle)) == ["config.json", "rootfs"]


def test_the_imported_bundle_is_valid_for_run(tmp_path: Path) -> None:
    from kernel.oci import load_bundle

    bundle = import_image(docker_archive(tmp_path / "i.tar", [LOWER, UPPER]), tmp_path / "b")
    parsed = load_bundle(str(bundle))
    assert parsed.args == ["/bin/tool", "--flag"] and parsed.uid == 1000 and parsed.cwd == "/keep"


EVIL: dict[str, list[list[Entry]]] = {
    "dotdot": [[("etc/", "dir", 0o755), ("../outside/evil", "file", "x")]],
    "dotdot-inside": [[("etc/../../outside/evil", "file", "x")]],
    "absolute": [[("/outside/evil", "file", "x")]],
    "symlink-then-file": [[("escape", "symlink", "{outside}")], [("escape/evil", "file", "x")]],
    "symlink-relative": [[("escape", "symlink", "../../outside")], [("escape/evil", "file", "x")]],
    "symlink-same-layer": [[("escape", "symlink", "{outside}"), ("escape/evil", "file", "x")]],
    "hardlink-dotdot": [[("evil", "hardlink", "../outside/target")]],
    "hardlink-via-symlink": [[("escape", "symlink", "{outside}"), ("evil", "hardlink", "escape/target")]],
    "whiteout-via-symlink": [[("escape", "symlink", "{outside}")], [("escape/.wh..wh..opq", "file", "")]],
}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_entries_landing_outside_are_refused_and_write_nothing_there(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("precious")
    layers = [[(n, k, v.format(outside=outside) if isinstance(v, str) else v) for n, k, v in layer]
              for layer in EVIL[case]]
    archive = docker_archive(tmp_path / "evil.tar", layers)
    with pytest.raises(ImageImportError, match="refusing"):
        import_image(archive, tmp_path / "work" / "bundle")
    assert sorted(os.listdir(outside)) == ["target"]
    assert (outside / "target").read_text() == "precious"
    assert (outside / "target").stat().st_nlink == 1
    assert not (tmp_path / "work").exists()  # nothing left behind, not even the parent it made


def test_the_cli_imports_with_progress_and_refuses_in_one_line(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "image.tar", [LOWER, UPPER])
    result = sentrio("image", "import", "--max-size", "1m", str(archive), str(tmp_path / "ok"))
    assert result.returncode == 0, result.stderr
    block = os.statvfs(tmp_path).f_frsize  # every entry counts as at least one block
    lower, both = len(LOWER) * block / 1024, (len(LOWER) + len(UPPER)) * block / 1024
    assert result.stderr.splitlines() == [f"layer 1/2: 0.0 MiB (image: {lower:.1f} KiB of at most 1.0 MiB)",
                                          f"layer 2/2: 0.0 MiB (image: {both:.1f} KiB of at most 1.0 MiB)"]
    assert tree(tmp_path / "ok" / "rootfs") == EXPECTED

    again = sentrio("image", "import", str(archive), str(tmp_path / "ok"))
    assert again.returncode == 125
    assert again.stderr == (f"sentrio: '{tmp_path / 'ok'}' already exists and is not an empty directory; "
                            "import into a new directory\n")

    evil = docker_archive(tmp_path / "evil.tar", EVIL["dotdot"])
    result = sentrio("image", "import", str(evil), str(tmp_path / "bad"))
    assert result.returncode == 125
    assert result.stderr == "sentrio: refusing '../outside/evil': it climbs out with '..'\n"

    result = sentrio("image", "import", str(tmp_path / "missing.tar"), str(tmp_path / "none"))
    assert result.returncode == 125
    assert result.stderr.startswith("sentrio: cannot read ")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    result = sentrio("image", "import", str(tmp_path / "junk.tar"), str(tmp_path / "none"))
    assert result.returncode == 125
    assert result.stderr.endswith("junk.tar': not a tar archive (plain, gzip, bzip2 or xz)\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
def test_owners_and_modes_come_from_the_archive(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, uid, gid, mode, kind in [("srv", 33, 34, 0o1770, tarfile.DIRTYPE),
                                           ("srv/app", 1000, 1001, 0o2750, tarfile.REGTYPE)]:
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.mode, info.type = uid, gid, mode, kind
            tar.addfile(info, io.BytesIO(b""))
    archive = tmp_path / "owners.tar"
    with tarfile.open(archive, "w") as tar:
        _add(tar, "l/layer.tar", buffer.getvalue())
        _add(tar, "c.json", b"{}")
        _add(tar, "manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar"]}]).encode())
    rootfs = import_image(archive, tmp_path / "b") / "rootfs"
    for name, uid, gid, mode in [("srv", 33, 34, 0o1770), ("srv/app", 1000, 1001, 0o2750)]:
        info = (rootfs / name).lstat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, gid, mode), name
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["process"] == {"terminal": False, "user": {"uid": 0, "gid": 0}, "env": [], "cwd": "/"}
