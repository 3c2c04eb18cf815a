"""gofer/exercise.py: the session a zygote serves itself before it forks runs must exercise what
a run's gofer does, not its error paths: every request but the two meant to fail succeeds."""

from __future__ import annotations

import errno

from gofer import protocol as p
from gofer.exercise import _session, exercise


def test_the_exercise_session_succeeds_where_it_means_to() -> None:
    requests = _session()
    replies = exercise(2)
    assert len(replies) == len(requests)
    failed = {type(request).__name__: reply.errno for request, reply in zip(requests, replies)
              if isinstance(reply, p.Rlerror)}
    # readlink of a directory (EINVAL) and a walk to a missing name (ENOENT), on purpose
    assert failed == {"Treadlink": errno.EINVAL, "Twalkattrs": errno.ENOENT}
    for request, reply in zip(requests, replies):
        if not isinstance(reply, p.Rlerror):
            assert type(reply).__name__ == "R" + type(request).__name__[1:], (request, reply)
