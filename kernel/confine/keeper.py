"""The keeper: removes a sandbox's runtime directory once its Sentry has ended.

The confined Sentry can no longer see the runtime directory (``/run/sentrio/ID``: state.json,
the control socket), so a process outside does it: it waits on a pipe only the Sentry holds
the write end of — its end comes however the Sentry dies — and then removes the directory,
unless a new sandbox has taken the name meanwhile.

It is executed, not forked: ``python -I -S keeper.py DIRECTORY SENTRY_PID`` with the pipe as
stdin. A fork of the Sentry would do the same work, but would hold a copy-on-write image of
the Sentry's whole heap for the sandbox's life, and every page the Sentry wrote afterwards
would become the keeper's alone: ~6 MiB of memory charged to the sandbox for a process that
waits on a pipe. A fresh interpreter without ``site`` holds ~2.5 MiB while it waits. So this
module imports only the standard library, and only what the wait needs before it ends.
"""

from __future__ import annotations

import os
import signal
import sys


def made_by(directory: str) -> int | None:
    """The pid of the Sentry that made runtime directory ``directory`` (its state.json says)."""
    import json  # here: the keeper imports it only once its wait is over

    try:
        with open(os.path.join(directory, "state.json")) as state:
            return int(json.load(state)["sentry_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep(directory: str, sentry: int) -> None:
    """Wait until stdin (the pipe) reaches its end, then remove ``directory`` if it is still
    ``sentry``'s."""
    for signo in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP):
        signal.signal(signo, signal.SIG_IGN)  # a terminal's ^C or hang-up is the Sentry's to take
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # nothing of the Sentry's stays open here
    while os.read(0, 4096):
        pass
    if made_by(directory) == sentry:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    keep(sys.argv[1], int(sys.argv[2]))
