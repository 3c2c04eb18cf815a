"""OCI bundles: config.json's process, root, hostname and mounts; invalid ones name the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from abi.linux import RLIMIT_NOFILE
from kernel.oci import BundleError, load_bundle
from tests.cli.conftest import fields, needs_root, sentrio


def make_bundle(path: Path, image: Path, config: dict[str, Any], rootfs: str = "rootfs") -> Path:
    path.mkdir(exist_ok=True)
    if not (path / rootfs).exists():
        shutil.copytree(image, path / rootfs, symlinks=True)
    (path / "config.json").write_text(json.dumps(config))
    return path


CONFIG: dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {
        "args": ["/bin/showenv", "5"],
        "env": ["PATH=/bin:/usr/bin", "GREETING=from the bundle"],
        "cwd": "/work",
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [50]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}],
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "bundled",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]},
        {"destination": "/data", "source": "/tmp", "options": ["rbind", "ro"]},
    ],
}


@pytest.fixture(scope="module")
def bundle(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle"), image, CONFIG)


@needs_root
def test_a_bundles_process_is_the_guests(bundle: Path) -> None:
    result = sentrio("run", str(bundle))
    assert result.returncode == 5, result.stderr
    out = fields(result.stdout)
    assert out["argv0"] == ["/bin/showenv"]
    assert out["cwd"] == ["/work"]
    assert out["ids"] == ["1000 1001 1000 1001"]
    assert out["hostname"] == ["bundled"]
    assert out["nofile"] == ["512 1024"]
    assert out["env"][:2] == ["PATH=/bin:/usr/bin", "GREETING=from the bundle"]
    assert "HOME=/home/alice" in out["env"]


@needs_root
def test_flags_win_over_the_bundle(bundle: Path) -> None:
    result = sentrio("run", "-w", "/", "-u", "0:0", "--hostname", "flagged", "-e", "GREETING=flag",
                     str(bundle), "--", "showenv", "0")
    assert result.returncode == 0, result.stderr
    out = fields(result.stdout)
    assert out["cwd"] == ["/"] and out["ids"] == ["0 0 0 0"] and out["hostname"] == ["flagged"]
    assert "GREETING=flag" in out["env"]


@needs_root
def test_a_bundle_without_args_runs_bin_sh(image: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", image, {"ociVersion": "1.0.2", "process": {"cwd": "/"}})
    result = sentrio("run", str(bundle))
    assert result.returncode == 127
    assert result.stderr == "/bin/sh: not found in the image\n"


def test_the_bundle_is_parsed_whole(bundle: Path) -> None:
    parsed = load_bundle(str(bundle))
    assert parsed.read_only and parsed.rootfs == str(bundle / "rootfs")
    assert parsed.additional_gids == [50]
    assert parsed.rlimits == {RLIMIT_NOFILE: (512, 1024)}
    assert [(m.destination, m.kind, m.source, m.read_only) for m in parsed.mounts] == [
        ("/proc", "proc", "proc", False), ("/scratch", "tmpfs", "tmpfs", False), ("/data", "bind", "/tmp", True)]


def test_root_path_may_name_another_directory(image: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").symlink_to(image)
    bundle = make_bundle(tmp_path / "b", image, {"root": {"path": str(tmp_path / "elsewhere")}}, rootfs="unused")
    assert load_bundle(str(bundle)).rootfs == str(tmp_path / "elsewhere")


@pytest.mark.parametrize(("change", "message"), [
    ({"process": {"args": "/bin/sh"}}, 'config.json: process.args: expected an array, got "/bin/sh"'),
    ({"process": {"args": ["/bin/sh", 3]}}, "config.json: process.args[1]: expected a string, got 3"),
    ({"process": {"env": ["NOEQUALS"]}}, 'config.json: process.env[0]: expected KEY=VALUE, got "NOEQUALS"'),
    ({"process": {"cwd": "work"}}, 'config.json: process.cwd: must be an absolute path, got "work"'),
    ({"process": {"user": {"uid": "root"}}}, 'config.json: process.user.uid: expected an integer, got "root"'),
    ({"process": {"user": {"uid": True}}}, "config.json: process.user.uid: expected an integer, got true"),
    ({"process": {"user": {"gid": -1}}}, "config.json: process.user.gid: out of range: -1"),
    ({"process": {"rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}},
     'config.json: process.rlimits[0].type: unknown resource limit "RLIMIT_BOGUS"'),
    ({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]}},
     "config.json: process.rlimits[0].soft: 9 is above the hard limit 1"),
    ({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1}]}},
     "config.json: process.rlimits[0].soft: missing"),
    ({"root": {"path": "missing"}}, "config.json: root.path: 'missing' is not a directory"),
    ({"root": {"readonly": "yes"}}, 'config.json: root.readonly: expected a boolean, got "yes"'),
    ({"hostname": "x" * 65}, "config.json: hostname: not a valid host name"),
    ({"mounts": [{"type": "tmpfs"}]}, "config.json: mounts[0].destination: missing"),
    ({"mounts": [{"destination": "tmp", "type": "tmpfs"}]},
     'config.json: mounts[0].destination: must be an absolute path, got "tmp"'),
    ({"mounts": [{"destination": "/x", "type": "nfs"}]}, 'config.json: mounts[0].type: unsupported mount type "nfs"'),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/no/such"}]},
     "config.json: mounts[0].source: '/no/such' does not exist"),
    ({"mounts": {}}, "config.json: mounts: expected an array, got {}"),
    ([], "config.json: top level: expected an object, got []"),
])
def test_an_invalid_config_names_the_field(image: Path, tmp_path: Path, change: Any, message: str) -> None:
    bundle = make_bundle(tmp_path / "b", image, change)
    with pytest.raises(BundleError) as error:
        load_bundle(str(bundle))
    assert str(error.value).startswith(message)


@needs_root
def test_an_invalid_config_is_one_line_and_125(image: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", image, {"process": {"user": {"uid": "root"}}})
    result = sentrio("run", str(bundle))
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr == 'sentrio: config.json: process.user.uid: expected an integer, got "root"\n'
    (bundle / "config.json").write_text("{not json")
    result = sentrio("run", str(bundle))
    assert result.returncode == 125
    assert result.stderr.startswith("sentrio: config.json is not valid JSON: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_terminal_bundle_gets_a_terminal_unless_a_command_is_given(image: Path, tmp_path: Path) -> None:
    from kernel.runspec import RunFlags, build_config

    bundle = make_bundle(tmp_path / "b", image, {"process": {"terminal": True, "args": ["/bin/showenv"]}})
    config = build_config(RunFlags(image=str(bundle)))
    assert config.tty and b"TERM=xterm" in config.env
    config = build_config(RunFlags(image=str(bundle), cmd=["/bin/showenv"]))
    assert not config.tty and not any(e.startswith(b"TERM=") for e in config.env)
