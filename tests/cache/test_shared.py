"""Under ``--rw`` and on volumes the host may change the files: the policy (docs/caching.md) is
that every path resolution revalidates the names it walks, a directory is listed again at each
open, and a symlink's target is read again once its attributes change. So a change the host
makes between two system calls of the guest is seen by the second one.

The guest prints what it sees, then waits on its stdin; the test changes the host's tree, then
lets the guest look again. No sleeps: the pipe orders the two.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cache.conftest import sentrio

LOOK = ("cat /data/tree/a; stat -c '%s %h' /data/tree/a; ls /data/tree; readlink /data/tree/link; "
        "cat /data/tree/link; cat /data/tree/sub/inner; ls /data/tree/sub")
SCRIPT = f"{LOOK}; echo ready; read line; {LOOK}; cd /data/tree/sub && cat inner"


def _change_the_host(tree: Path) -> None:
    (tree / "a").write_text("changed by the host, longer\n")
    (tree / "hard").unlink()
    (tree / "new").write_text("new\n")
    (tree / "link").unlink()
    (tree / "link").symlink_to("new")
    os.rename(tree / "sub" / "inner", tree / "sub" / "renamed")
    (tree / "sub" / "inner").write_text("replaced\n")


@pytest.mark.parametrize("how", ["rw", "volume", "volume-ro"])
def test_a_host_change_is_seen_by_the_next_lookup(image: Path, tmp_path: Path, how: str) -> None:
    if how == "rw":
        run = sentrio("-i", "--rw", str(image), "--", "/bin/sh", "-c", SCRIPT, stdin=subprocess.PIPE)
        tree = image / "data" / "tree"
    else:
        (tmp_path / "vol").mkdir()
        os.rename(image / "data" / "tree", tmp_path / "vol" / "tree")
        spec = f"{tmp_path / 'vol'}:/data" + (":ro" if how == "volume-ro" else "")
        run = sentrio("-i", "-v", spec, str(image), "--", "/bin/sh", "-c", SCRIPT, stdin=subprocess.PIPE)
        tree = tmp_path / "vol" / "tree"
    assert run.stdin is not None and run.stdout is not None
    before = []
    for line in run.stdout:
        if line == "ready\n":
            break
        before.append(line)
    assert "".join(before) == "first\n6 2\na\nhard\nlink\nsub\na\nfirst\ninner\ninner\n"
    _change_the_host(tree)
    run.stdin.write("go\n")
    run.stdin.close()
    after = run.stdout.read()
    assert run.wait(timeout=120) == 0, run.stderr.read() if run.stderr else ""
    assert after == ("changed by the host, longer\n28 1\na\nlink\nnew\nsub\nnew\nnew\n"
                     "replaced\ninner\nrenamed\nreplaced\n")
