"""The image's extended attributes are asked of the gofer only for the namespace it serves.

``ls -l`` asks ``security.selinux`` of every file; the gofer serves ``user.*`` alone, so such a
question is answered in the Sentry without a request, while a ``user.*`` one still brings the
image's attributes in. Over a real gofer, driven directly as in test_bounds.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from abi.errno import ENODATA, Errno
from services.vfs.overlay import GoferRegular
from tests.cache.test_bounds import _served


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the gofer confines itself with namespaces and chroot, which need root")
    root = tmp_path / "tree"
    root.mkdir()
    (root / "plain").write_text("plain\n")
    (root / "tagged").write_text("tagged\n")
    try:
        os.setxattr(root / "tagged", "user.origin", b"host")
    except OSError:
        pytest.skip("the host's file system keeps no user.* attributes here")
    return root


async def test_only_user_attributes_are_asked_of_the_gofer(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    plain, tagged = await root.lookup(b"plain"), await root.lookup(b"tagged")
    assert isinstance(plain, GoferRegular) and isinstance(tagged, GoferRegular)
    before = dict(bus.counts)
    for inode in (plain, tagged):
        with pytest.raises(Errno) as missing:
            await inode.get_xattr(b"security.selinux")
        assert missing.value.errno == ENODATA
    assert {op: n for op, n in bus.counts.items() if op != "alive"} == \
        {op: n for op, n in before.items() if op != "alive"}, "no request for another namespace"
    assert await tagged.get_xattr(b"user.origin") == b"host"
    assert "xattr_list" in bus.counts
    assert await tagged.list_xattrs() == [b"user.origin"]
    await bus.proxy.close()


async def test_a_file_s_attributes_are_listed_in_one_request(tree: Path, nursery: trio.Nursery) -> None:
    """cp -a and shutil.copy2 list every file's attributes: a file met in a listing has no fid,
    and its directory is asked for it by name, with no walk of a fid and no clunk."""
    fs, root, bus = await _served(nursery, tree)
    plain, tagged = await root.lookup(b"plain"), await root.lookup(b"tagged")
    await root.list_xattrs()  # the directory's own fid exists now: only the files' costs count
    before = dict(bus.counts)
    assert await plain.list_xattrs() == []
    asked = {op: n - before.get(op, 0) for op, n in bus.counts.items() if n != before.get(op, 0)}
    assert asked == {"xattr_list": 1}, asked
    assert await tagged.list_xattrs() == [b"user.origin"]  # (its value comes through a walked fid)
    await bus.proxy.close()
