"""A zygote (``python -m kernel serve``) for the length of a benchmark session.

The served column of a report runs ``python -m kernel run`` exactly as the cold one does, with
``$SENTRIO_ZYGOTE`` naming this session's socket: the client hands its run to the zygote, whose
fork joins the client's cgroups, so the memory a served run adds is charged to the run's cgroup
as a cold run's is. What a served run shares with the zygote (the interpreter, every module) was
charged to the zygote when it loaded it: it is reported once, as the zygote's own memory.

A client that the zygote refuses runs cold without saying so (that is what a user wants); a
benchmark must not, so :meth:`Zygote.check_served` counts the zygote's "serving run" log lines
and fails a run that was not one of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from bench.memory import RunCgroup, pss_kib

#: How long a zygote may take to import everything and listen.
START_TIMEOUT = 60.0
#: The log line the zygote writes for each run it forks (kernel/zygote/server.py).
SERVED_LINE = "serving run "
#: The log line it writes once it listens.
LISTENING_LINE = "serving on "


class ZygoteError(RuntimeError):
    """The zygote did not start, or a run was not served by it."""


class Zygote:
    """``python -m kernel serve`` from ``tree``, on a socket of its own, in a memory cgroup of its
    own (to report what it holds); a context manager that stops it on exit."""

    def __init__(self, tree: Path, name: str) -> None:
        self.tree = tree
        self._directory = tempfile.TemporaryDirectory(prefix=f"sentrio-bench-{name}-")
        self.socket = Path(self._directory.name) / "zygote.sock"
        self._log_path = Path(self._directory.name) / "zygote.log"
        self._cgroup = RunCgroup(f"sentrio-bench-zygote-{os.getpid()}-{name}")
        self._process: subprocess.Popen[bytes] | None = None
        self._served = 0

    def __enter__(self) -> Zygote:
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "kernel", "serve", "--socket", str(self.socket)],
                cwd=self.tree, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=os.environ | {"SENTRIO_ZYGOTE": "off"}, start_new_session=True,
                preexec_fn=self._cgroup.enter)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise ZygoteError(f"`kernel serve` did not start: {self._log_tail()}")
            time.sleep(0.05)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._cgroup.remove()
        self._directory.cleanup()

    def environment(self) -> dict[str, str]:
        """The variables that send a client's run to this zygote."""
        return {"SENTRIO_ZYGOTE": str(self.socket)}

    def check_served(self) -> str | None:
        """Why the run that just ended was not served by this zygote (None if exactly one more
        run was served since the last call). Called after every run, failed ones included, so
        that a failure does not leave the count behind for the next run."""
        served = self._log_path.read_text(errors="replace").count(SERVED_LINE)
        expected, self._served = self._served + 1, served
        if served != expected:
            return f"the run was not served by the zygote ({self._log_tail()})"
        return None

    def memory_mib(self) -> dict[str, float]:
        """What the idle zygote holds: its memory cgroup's charge and its PSS, in MiB."""
        assert self._process is not None
        charged = self._cgroup.usage_bytes() / (1 << 20)
        return {"charged": round(charged, 1), "pss": round(pss_kib(self._process.pid) / 1024, 1)}

    def _listening(self) -> bool:
        """Whether the zygote said it listens (its first log line; a probe connection would be
        logged as a malformed request)."""
        return LISTENING_LINE in self._log_path.read_text(errors="replace")

    def _log_tail(self) -> str:
        try:
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"
