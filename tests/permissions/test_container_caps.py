"""How a container's first process gets its capabilities: docker's --cap-add/--cap-drop, an
OCI bundle's process.capabilities and noNewPrivileges; parsing and the guest's view."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from abi.creds import (
    ALL_CAPS,
    CAP_CHOWN,
    CAP_KILL,
    CAP_NET_ADMIN,
    CAP_NET_BIND_SERVICE,
    CAP_SYS_ADMIN,
    DOCKER_DEFAULT_CAPS,
    CapabilitySets,
    cap_bit,
)
from kernel.oci import BundleError, load_bundle
from kernel.runspec import RunSpecError, container_capabilities, tweak_capabilities
from tests.permissions.conftest import REPO, ROOT, USER_1000, Identity, run_sentrio

NET_BIND = cap_bit(CAP_NET_BIND_SERVICE)


# --- docker's rules for --cap-add/--cap-drop ------------------------------------------------


def test_names_with_or_without_the_prefix_in_any_case() -> None:
    assert tweak_capabilities(DOCKER_DEFAULT_CAPS, ["net_admin"], ["CAP_CHOWN", "Kill"]) == \
        (DOCKER_DEFAULT_CAPS | cap_bit(CAP_NET_ADMIN)) & ~cap_bit(CAP_CHOWN) & ~cap_bit(CAP_KILL)


def test_all_on_either_side() -> None:
    assert tweak_capabilities(DOCKER_DEFAULT_CAPS, ["ALL"], ["chown"]) == ALL_CAPS & ~cap_bit(CAP_CHOWN)
    assert tweak_capabilities(DOCKER_DEFAULT_CAPS, ["chown"], ["all"]) == cap_bit(CAP_CHOWN)
    assert tweak_capabilities(DOCKER_DEFAULT_CAPS, ["kill"], ["kill"]) == DOCKER_DEFAULT_CAPS  # adding wins


def test_an_unknown_capability_names_the_flag() -> None:
    with pytest.raises(RunSpecError, match="--cap-drop 'CAP_NOPE': unknown capability"):
        tweak_capabilities(DOCKER_DEFAULT_CAPS, [], ["CAP_NOPE"])


def test_flags_on_a_bundles_sets() -> None:
    class FakeBundle:
        capabilities = CapabilitySets(bounding=DOCKER_DEFAULT_CAPS, effective=DOCKER_DEFAULT_CAPS,
                                      permitted=DOCKER_DEFAULT_CAPS, inheritable=cap_bit(CAP_KILL),
                                      ambient=cap_bit(CAP_KILL))

    sets = container_capabilities(["SYS_ADMIN"], ["KILL"], FakeBundle(), 0)  # type: ignore[arg-type]
    assert isinstance(sets, CapabilitySets)
    assert sets.bounding == sets.effective == sets.permitted == \
        (DOCKER_DEFAULT_CAPS | cap_bit(CAP_SYS_ADMIN)) & ~cap_bit(CAP_KILL)
    assert sets.inheritable == sets.ambient == 0
    user = container_capabilities(["SYS_ADMIN"], [], FakeBundle(), 1000)  # type: ignore[arg-type]
    assert isinstance(user, CapabilitySets) and not user.effective & cap_bit(CAP_SYS_ADMIN)
    assert container_capabilities([], [], None, 0) is None


# --- OCI bundles: process.capabilities and noNewPrivileges --------------------------------------


def write_bundle(path: Path, image: Path, process: dict[str, Any]) -> Path:
    path.mkdir(exist_ok=True)
    if not (path / "rootfs").exists():
        os.symlink(image, path / "rootfs")
    config = {"ociVersion": "1.0.2", "process": {"args": ["/bin/showcaps"], "cwd": "/", **process},
              "root": {"path": "rootfs"}}
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_a_bundles_capabilities_are_read_by_name(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    write_bundle(tmp_path, tmp_path / "rootfs", {"capabilities": {
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"], "permitted": ["CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]}, "noNewPrivileges": True})
    bundle = load_bundle(str(tmp_path))
    assert bundle.capabilities == CapabilitySets(bounding=NET_BIND | cap_bit(CAP_KILL), effective=0,
                                                 permitted=NET_BIND, inheritable=NET_BIND, ambient=NET_BIND)
    assert bundle.no_new_privileges


@pytest.mark.parametrize(("capabilities", "message"), [
    ({"bounding": ["CAP_NOPE"]}, 'process.capabilities.bounding[0]: unknown capability "CAP_NOPE"'),
    ({"effective": ["chown"]}, 'process.capabilities.effective[0]: unknown capability "chown"'),
    ({"ambient": "CAP_CHOWN"}, "process.capabilities.ambient: expected an array"),
    ([], "process.capabilities: expected an object"),
])
def test_a_bad_capability_list_names_the_field(tmp_path: Path, capabilities: Any, message: str) -> None:
    (tmp_path / "rootfs").mkdir()
    write_bundle(tmp_path, tmp_path / "rootfs", {"capabilities": capabilities})
    with pytest.raises(BundleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_bundle(str(tmp_path))


def showcaps(bundle_or_image: Path, who: Identity, *options: str, program: str = "/bin/showcaps") -> list[str]:
    outcome = run_sentrio(bundle_or_image, who, [program, "first"], options=options)
    assert outcome.status == 0, outcome.stderr
    return outcome.stdout.split()


def field(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_a_users_ambient_capability_reaches_its_program(image: Path, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, image, {"user": {"uid": 1000, "gid": 1000}, "capabilities": {
        "bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]}})
    words = showcaps(bundle, Identity("bundle"))
    assert [field(words, k) for k in ("eff", "prm", "inh", "amb", "bnd")] == ["400"] * 5
    assert field(words, "uid") == "1000/1000/1000"


def test_without_ambient_a_user_holds_nothing_after_exec(image: Path, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, image, {"user": {"uid": 1000, "gid": 1000}, "capabilities": {
        "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}})
    words = showcaps(bundle, Identity("bundle"))
    assert [field(words, k) for k in ("eff", "prm", "bnd")] == ["0", "0", "20"]


def test_no_new_privileges_keeps_set_uid_programs_from_raising(image: Path, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, image, {"user": {"uid": 1000, "gid": 1000}, "noNewPrivileges": True,
                                            "args": ["/bin/showcaps_suid"]})
    words = showcaps(bundle, Identity("bundle"), program="/bin/showcaps_suid")
    assert field(words, "uid") == "1000/1000/1000" and field(words, "no_new_privs") == "1"
    plain = showcaps(image, USER_1000, program="/bin/showcaps_suid")
    assert field(plain, "uid") == "1000/0/0" and field(plain, "no_new_privs") == "0"


def test_docker_flags_on_the_command_line(image: Path) -> None:
    words = showcaps(image, ROOT, "--cap-drop", "ALL", "--cap-add", "kill", "--cap-add", "CAP_CHOWN")
    assert field(words, "eff") == field(words, "bnd") == format(cap_bit(CAP_KILL) | cap_bit(CAP_CHOWN), "x")
    assert field(showcaps(image, USER_1000, "--cap-add", "NET_ADMIN"), "eff") == "0"


def test_a_bad_flag_is_one_line_and_125(image: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "kernel", "run", "--cap-add", "FLY", str(image), "--", "/bin/showcaps"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert result.returncode == 125
    assert result.stderr == "sentrio: --cap-add 'FLY': unknown capability\n"
