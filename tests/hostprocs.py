"""What the tests read of the host's processes."""

from __future__ import annotations

from pathlib import Path


def process_args(pid: int | str) -> list[str]:
    """A process's command line as words. A helper the Sentry forked names itself with one
    string (gofer/spawn.py), an executed one has an argument per NUL: both read the same here.
    Empty when the process is gone or hidden."""
    try:
        data = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return data.replace(b"\0", b" ").decode(errors="replace").split()
