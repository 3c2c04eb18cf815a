"""The machine-wide calls a container's root is refused, native vs Sentrio
(``programs/privileged.c``): EPERM for acct, reboot, vhangup, swapon and swapoff; ENOSYS, as
this host's kernel (built without them) answers, for iopl, ioperm, the module and kexec calls."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_refused_as_linux_refuses_a_container(image: Path) -> None:
    outcome = same(image, "/bin/privileged")
    for call in ("acct NULL", "reboot bad magic", "vhangup", "swapon", "swapoff"):
        assert f"{call}: -1 EPERM" in outcome.stdout
