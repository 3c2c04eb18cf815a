"""Thread pidfds and pidfd_send_signal's scopes (``programs/thread_pidfd.c``), native vs
Sentrio: PIDFD_THREAD names one thread (signalled alone with SI_TKILL, or as its process),
readable and hung up once the thread has ended; PIDFD_SIGNAL_THREAD on a process's pidfd
reaches its leader; PIDFD_SIGNAL_PROCESS_GROUP a group led by the pidfd's process (ESRCH for
a process that leads none); the flags' errors."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same


@needs_root()
def test_thread_pidfds_and_signal_scopes(image: Path) -> None:
    lines = same(image, "/bin/thread_pidfd").stdout.splitlines()
    for expected in ("pidfd_open of a thread without PIDFD_THREAD: -1 ENOENT",
                     "handled by the thread 1, si_code SI_TKILL 1",
                     "handled by the only thread not blocking it 1, si_code SI_USER 1",
                     "two scopes at once: -1 EINVAL", "handled by the leader 1, si_code SI_TKILL 1",
                     "thread pidfd readiness once it ended: 0x11", "send to the ended thread: -1 ESRCH",
                     "PROCESS_GROUP of a child that is not a group leader: -1 ESRCH",
                     "the leader died of SIGTERM 1"):
        assert expected in lines, expected
