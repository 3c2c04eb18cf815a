"""gofer/spawn.py's reserved forks: a process forked early that becomes the next helper asked
for, exactly as a fork at that moment would have been (its fds under the parent's numbers, its
streams, its environment, the caller as its parent), that ends unused when released, and whose
death while it waits costs nothing but a fork made then.

The scenario runs in a process of its own: it forks, and the test runner has threads.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.cli.conftest import REPO

SCENARIO = textwrap.dedent('''
    import os, socket, sys
    from gofer import spawn

    def probe_main():
        def main(argv):
            channel = socket.socket(fileno=int(argv[0]))
            channel.sendall(f"{os.getppid()} {os.environ['PROBE']} {argv[1]}".encode())
            print("to the probe's stdout", flush=True)
            return 3
        return main

    stale_read, stale_write = os.pipe()
    number = os.dup2(stale_write, 200)  # the reserved forks hold fd 200 as this pipe ...
    spawn.reserve()
    spawn.reserve()
    first, second = (reserved.pid for reserved in spawn._reserved)
    ours, theirs = socket.socketpair()
    ours.settimeout(20)
    read_end, write_end = os.pipe()
    os.dup2(theirs.fileno(), number)  # ... and the helper must find it as this socket
    child = spawn.start("probe", probe_main, [str(number), "second-arg"], pass_fds=[number],
                        stdout=write_end, stderr=None, env={"PROBE": "from-env"})
    os.close(write_end)
    assert child.pid == first, (child.pid, first)
    reply = ours.recv(200).decode()
    assert reply == f"{os.getpid()} from-env second-arg", reply
    with os.fdopen(read_end, "rb") as probe_stdout:  # print may write its line in two pieces
        assert probe_stdout.readline() == b"to the probe's stdout\\n"
    assert child.wait(timeout=30) == 3
    spawn.release_reserved()
    try:
        os.kill(second, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the unused reserved fork outlived its release"

    spawn.reserve()
    [dead] = spawn._reserved
    os.kill(dead.pid, 9)  # killed while it waits: the helper is forked anew instead
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
    ours, theirs = socket.socketpair()
    ours.settimeout(20)
    child = spawn.start("probe", probe_main, [str(theirs.fileno()), "after-a-death"], pass_fds=[theirs.fileno()],
                        stdout=None, stderr=None, env={"PROBE": "again"})
    assert child.pid != dead.pid
    assert ours.recv(200).decode() == f"{os.getpid()} again after-a-death"
    assert child.wait(timeout=30) == 3
    print("ok")
''')


def test_a_reserved_fork_becomes_the_helper_and_an_unused_one_ends_when_released() -> None:
    result = subprocess.run([sys.executable, "-c", SCENARIO], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (result.stdout, result.returncode) == ("ok\n", 0), result.stderr
    assert result.stderr == ""
