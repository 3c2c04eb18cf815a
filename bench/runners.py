"""The runtimes a benchmark runs under: native (chroot), gVisor's runsc (ptrace), Sentrio.

Each runner turns (image directory, guest argv) into a host command line. The image is a root
directory holding the static benchmark programs; every runner sees the same one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Runner:
    """A way to run a program from an image.

    ``label`` heads its column, ``short`` its ratios; ``command(image, argv)`` is the host
    command line; ``cwd`` the directory to run it from
    (``None``: the caller's); ``version`` a command that prints the runtime's version, if any;
    ``env`` variables set for it; ``served``: its runs go to a zygote (``python -m kernel serve``,
    bench/zygote.py) that the session starts from ``cwd``.
    """

    name: str
    label: str
    short: str
    command: Callable[[Path, list[str]], list[str]]
    cwd: Path | None = None
    version: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    served: bool = False


def native_command(image: Path, argv: list[str]) -> list[str]:
    """``chroot IMAGE argv...``: the program on the host kernel, no sandbox."""
    return [shutil.which("chroot") or "chroot", str(image), *argv]


def runsc_command(image: Path, argv: list[str]) -> list[str]:
    """gVisor with its default settings except the platform (ptrace).

    ``--network=none`` is needed here: ``runsc do`` sets up its default sandbox network with
    iptables (absent), and ``runsc run`` refuses the sandbox network in the host's network
    namespace. It does not touch the system call path being measured. ``do --root IMAGE`` serves
    IMAGE as the root file system (read-only, with a tmpfs overlay: runsc's default);
    ``--cwd /`` because the caller's directory does not exist in the image.
    """
    return [shutil.which("runsc") or "runsc", "--platform=ptrace", "--network=none",
            "do", "--root", str(image), "--cwd", "/", *argv]


def sentrio_command(image: Path, argv: list[str]) -> list[str]:
    """``python -m kernel run --network none IMAGE -- argv...`` with this interpreter, from the
    repository. ``--network none`` as runsc's: both keep their loopback, neither starts a way out
    (Sentrio's is a helper process, netgate, that no benchmark here uses)."""
    return [sys.executable, "-m", "kernel", "run", "--network", "none", str(image), "--", *argv]


NATIVE = Runner("native", "native", "native", native_command)
RUNSC = Runner("runsc", "runsc (ptrace)", "runsc", runsc_command, version=("runsc", "--version"))


def checkout_version(tree: Path) -> tuple[str, ...]:
    """The command naming the commit a checkout is at (dirty if changed)."""
    return ("git", "-C", str(tree), "describe", "--always", "--dirty")


#: A cold start every run: a zygote the user left running must not serve this column.
SENTRIO = Runner("sentrio", "Sentrio", "Sentrio", sentrio_command, cwd=REPO_ROOT,
                 version=checkout_version(REPO_ROOT), env=(("SENTRIO_ZYGOTE", "off"),))
#: The same command served by a zygote the benchmark session starts (kernel/zygote).
SERVED = Runner("served", "Sentrio served", "served", sentrio_command, cwd=REPO_ROOT,
                version=checkout_version(REPO_ROOT), served=True)

RUNNERS: list[Runner] = [NATIVE, RUNSC, SENTRIO, SERVED]


def sentrio_tree(name: str, tree: Path) -> Runner:
    """Sentrio run from another checkout ``tree`` (``python -m kernel`` from its root), named
    ``sentrio@NAME``: to compare two commits in one session (``--sentrio-tree``)."""
    return Runner(f"sentrio@{name}", f"Sentrio@{name}", f"Sentrio@{name}", sentrio_command, cwd=tree,
                  version=checkout_version(tree), env=(("SENTRIO_ZYGOTE", "off"),))


def served_tree(name: str, tree: Path) -> Runner:
    """The served column of another checkout ``tree``: its runs go to a zygote of its own,
    started from ``tree`` for the session; named ``served@NAME`` (``--served-tree``)."""
    return Runner(f"served@{name}", f"Sentrio served@{name}", f"served@{name}", sentrio_command, cwd=tree,
                  version=checkout_version(tree), served=True)


#: The ratios reported, as (numerator, denominator) runner names.
RATIOS: list[tuple[str, str]] = [("sentrio", "runsc"), ("served", "runsc"), ("sentrio", "native"),
                                 ("runsc", "native")]


def runner_version(runner: Runner) -> str | None:
    """The first line the runner's version command prints, or ``None``."""
    if runner.version is None:
        return None
    try:
        done = subprocess.run(runner.version, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0] if lines else None
