"""runc's command line on ``sentrio``, so podman, docker and containerd can drive Sentrio.

``sentrio create ID --bundle DIR`` builds a sandbox and holds its first process; ``start``,
``state``, ``kill``, ``delete``, ``run``, ``exec``, ``list``, ``ps``, ``features`` and ``spec``
behave as runc's do (see :mod:`kernel.runtime.commands`). :func:`is_runc_command_line` tells the CLI when
it is called this way rather than as ``sentrio run IMAGE -- CMD``.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Global flags of runc that engines put before the subcommand.
GLOBAL_FLAGS = ("--root", "--log", "--log-format", "--debug", "--systemd-cgroup", "--rootless", "--criu")
#: Subcommands that only the runc-style command line has.
RUNC_COMMANDS = frozenset({
    "create", "start", "state", "delete", "kill", "exec", "list", "features", "spec",
    "pause", "resume", "checkpoint", "restore", "events", "update",
})


def is_runc_command_line(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (without the program name) has runc's shape."""
    if not argv:
        return False
    first = argv[0]
    if first.split("=", 1)[0] in GLOBAL_FLAGS:
        return True
    if first in RUNC_COMMANDS:
        return True
    if first == "ps":  # our own ps takes no argument; runc's takes an id
        return any(not a.startswith("-") for a in argv[1:]) or "--format" in argv[1:]
    if first == "run":
        return any(a in ("--bundle", "-b") or a.startswith("--bundle=") for a in argv[1:])
    return False


def main(argv: Sequence[str]) -> int:
    from kernel.runtime.commands import main as run_command

    return run_command(argv)
