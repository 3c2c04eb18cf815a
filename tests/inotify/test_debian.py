"""Real programs of the Debian image watching files inside the sandbox: coreutils' ``tail -f``
(which follows a file by inotify) and python3 calling inotify through ctypes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from abi.inotify import INOTIFY_MAX_QUEUED_EVENTS, INOTIFY_MAX_USER_INSTANCES, inotify_max_user_watches
from tests.compat.conftest import needs_root, sentrio
from tests.compat.cpython import build_image

pytestmark = needs_root()

#: tail -f in the background; a line appended must reach it. In inotify mode tail sleeps
#: until an event comes, so the line shows only if the append was told to it. The loops
#: bound the wait; nothing is timed.
TAIL = """
cd /tmp
echo first > log
tail -f log > out &
pid=$!
for i in $(seq 1 600); do grep -q first out && break; sleep 0.1; done
ls -l /proc/$pid/fd | grep -o 'anon_inode:inotify'
echo second >> log
for i in $(seq 1 600); do grep -q second out && break; sleep 0.1; done
kill $pid
cat out
"""

#: tail -F follows the name: a rotated log (renamed, made again) is followed into the new file.
TAIL_ROTATED = """
cd /tmp
echo one > log
tail -F log > out 2>err &
pid=$!
for i in $(seq 1 600); do grep -q one out && break; sleep 0.1; done
mv log log.1
echo two > log
for i in $(seq 1 600); do grep -q two out && break; sleep 0.1; done
echo three >> log
for i in $(seq 1 600); do grep -q three out && break; sleep 0.1; done
kill $pid
cat out err
"""

PYTHON = r"""
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
os.mkdir("/tmp/w")
wd = libc.inotify_add_watch(fd, b"/tmp/w", 0x100 | 0x200 | 0x2 | 0x8 | 0x40 | 0x80)
with open("/tmp/w/a", "w") as f:
    f.write("x")
os.rename("/tmp/w/a", "/tmp/w/b")
os.unlink("/tmp/w/b")
data = os.read(fd, 4096)
os.rmdir("/tmp/w")
cookies = []
while data:
    w, mask, cookie, length = struct.unpack_from("iIII", data)
    name = data[16:16 + length].rstrip(b"\0").decode()
    if cookie:
        cookies.append(cookie)
    print(w == wd, hex(mask), name)
    data = data[16 + length:]
print("cookies pair:", len(cookies) == 2 and cookies[0] == cookies[1])
"""


@pytest.fixture(scope="module")
def debian() -> Path:
    return build_image()


def test_tail_follows_an_appended_line(debian: Path) -> None:
    outcome = sentrio(debian, "/bin/sh", "-c", TAIL, timeout=180)
    assert outcome.stdout == "anon_inode:inotify\nfirst\nsecond\n", outcome.stderr


def test_tail_follows_a_rotated_log_by_name(debian: Path) -> None:
    outcome = sentrio(debian, "/bin/sh", "-c", TAIL_ROTATED, timeout=180)
    lines = outcome.stdout.splitlines()
    assert lines[:3] == ["one", "two", "three"], outcome.stderr
    # tail may see the rename before the new file exists ("has become inaccessible", then
    # "has appeared"), as it may on Linux: either way it follows the new file
    assert "following new file" in lines[-1], outcome.stdout


def test_python_reads_inotify_events_through_ctypes(debian: Path) -> None:
    outcome = sentrio(debian, "python3", "-c", PYTHON, timeout=180)
    assert outcome.stdout.splitlines() == [
        "True 0x100 a", "True 0x2 a", "True 0x8 a", "True 0x40 a", "True 0x80 b", "True 0x200 b",
        "cookies pair: True",
    ], outcome.stderr


def test_proc_sys_fs_inotify_shows_the_limits_the_vfs_keeps(debian: Path) -> None:
    outcome = sentrio(debian, "/bin/sh", "-c", "cd /proc/sys/fs/inotify && cat max_user_instances max_queued_events "
                      "max_user_watches", timeout=120)
    instances, queued, watches = outcome.stdout.split()
    assert (int(instances), int(queued)) == (INOTIFY_MAX_USER_INSTANCES, INOTIFY_MAX_QUEUED_EVENTS), outcome.stderr
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert int(watches) == inotify_max_user_watches(memory)
