"""A walker's listings come a tree at a time (``readdir_tree``), and say what the image holds.

Over a real gofer (our proxy, a confined gofer process), driven directly as in test_bounds.py:
a depth-first walk like find's lists the root alone, then the rest of the tree in a few
requests; every entry and attribute is the host's; changes made in the sandbox before a
directory was read ahead survive it; and the gofer never follows a symbolic link on a path it
is asked to list.
"""

from __future__ import annotations

import os
from pathlib import Path
import pytest
import trio

from abi.errno import ENOENT, Errno
from services.vfs.inode import Dir, RegularInode
from tests.cache.test_bounds import _served

#: More entries than one listing per directory would take few requests for.
DIRECTORIES, SUBDIRECTORIES = 12, 6


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the gofer confines itself with namespaces and chroot, which need root")
    root = tmp_path / "tree"
    for d in range(DIRECTORIES):
        for e in range(SUBDIRECTORIES):
            (root / f"d{d}" / f"e{e}").mkdir(parents=True)
            (root / f"d{d}" / f"e{e}" / "file").write_text("x" * (d * 10 + e))
    (root / "d0" / "link").symlink_to("e0")
    return root


async def _walk(directory: Dir, prefix: str = "") -> dict[str, tuple[int, int]]:
    """Every path below ``directory``, depth first as find reads them, with what stat says."""
    found: dict[str, tuple[int, int]] = {}
    for name, _, _ in await directory.entries():
        if name in (b".", b".."):
            continue
        child = await directory.lookup(name)
        path = f"{prefix}/{name.decode()}"
        st = await child.stat()
        found[path] = (st.mode, st.size)
        if isinstance(child, Dir):
            found |= await _walk(child, path)
    return found


def _host(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = Path(directory, name)
            st = path.lstat()
            found["/" + str(path.relative_to(root))] = (st.st_mode, st.st_size)
    return found


async def test_a_walk_reads_the_tree_in_a_few_requests(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    fs.cache_entries = 1 << 16
    walked = await _walk(root)
    assert walked == _host(tree)
    assert bus.counts.get("readdir_attrs", 0) == 1, "only the root is listed alone"
    assert bus.counts["readdir_tree"] <= 2, bus.counts  # d0 with everything below the root, at most one more
    await bus.proxy.close()


async def test_changes_made_before_a_read_ahead_survive_it(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    fs.cache_entries = 1 << 16
    d3 = await root.lookup(b"d3")
    e1 = await d3.lookup(b"e1")  # type: ignore[attr-defined]
    made = await e1.make(b"new", 0o100644, 0, 0)  # type: ignore[attr-defined]
    await d3.remove(b"e2", await d3.lookup(b"e2"))  # type: ignore[attr-defined]
    walked = await _walk(root)  # d0's listing reads d3 and e1 ahead: neither was listed yet
    assert bus.counts["readdir_tree"] >= 1
    expected = {path for path in _host(tree) if not path.startswith("/d3/e2")} | {"/d3/e1/new"}
    assert set(walked) == expected
    assert await e1.lookup(b"new") is made  # type: ignore[attr-defined]
    assert isinstance(made, RegularInode)
    with pytest.raises(Errno) as error:
        await d3.lookup(b"e2")  # type: ignore[attr-defined]
    assert error.value.errno == ENOENT
    await bus.proxy.close()


async def test_a_bounded_cache_lists_one_directory_at_a_time(tree: Path, nursery: trio.Nursery) -> None:
    """With no room to read ahead into, a walk lists each directory alone, and still right."""
    fs, root, bus = await _served(nursery, tree)
    walked = await _walk(root)  # test_bounds' bound: 40 entries
    assert set(walked) == set(_host(tree))
    assert "readdir_tree" not in bus.counts
    await bus.proxy.close()


async def test_the_gofer_lists_no_path_through_a_symbolic_link(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    proxy, mount = bus.proxy, fs.mount
    fid = await proxy.attach(mount)
    entries, last, below = await proxy.readdir_tree(mount, fid, [[b"d1"], [b"d0", b"link"], [b"d0", b"e3"]],
                                                    1 << 20)
    assert last and sorted(entries.names) == [f"e{e}".encode() for e in range(SUBDIRECTORIES)]
    others = {listing.parent: listing for listing in below if listing.parent < -1}
    assert -2 not in others, "d0/link is a symbolic link: not listed"
    assert others[-3].entries.names == [b"file"] and others[-3].name == b"e3"
    children = {listing.name for listing in below if listing.parent == -1}
    assert children == {f"e{e}".encode() for e in range(SUBDIRECTORIES)}  # d1's subdirectories, whole
    with pytest.raises(Errno) as error:
        await proxy.readdir_tree(mount, fid, [[b"d0", b"link"]], 1 << 20)
    assert error.value.errno in (ENOENT, 20, 40)  # ENOTDIR or ELOOP: never the target's listing
    await bus.proxy.close()


async def test_listings_bring_the_targets_of_symbolic_links(tree: Path, nursery: trio.Nursery) -> None:
    """A link's target comes with the listing that names it, near the root (``readdir_attrs``)
    and deep in a tree read ahead (``readdir_tree``): reading it asks the gofer nothing more."""
    (tree / "top").symlink_to("d1/e2/file")
    (tree / "d5" / "e4" / "deep").symlink_to("../../" + "x" * 200)
    fs, root, bus = await _served(nursery, tree)
    fs.cache_entries = 1 << 16
    await _walk(root)
    links = {"/top": b"d1/e2/file", "/d0/link": b"e0", "/d5/e4/deep": b"../../" + b"x" * 200}
    before = {op: n for op, n in bus.counts.items() if op != "alive"}  # (asks the proxy only)
    for path, target in links.items():
        inode = root
        for name in path.encode().split(b"/")[1:]:
            inode = await inode.lookup(name)  # type: ignore[attr-defined]
        assert await inode.readlink() == target == os.readlink(tree / path[1:]).encode()  # type: ignore[attr-defined]
    assert {op: n for op, n in bus.counts.items() if op != "alive"} == before, "a listed link is read again"
    await bus.proxy.close()


async def test_a_link_listed_without_its_target_is_read_when_needed(tree: Path, nursery: trio.Nursery) -> None:
    """The gofer sends ``b""`` for a link it could not read: the Sentry then asks for it."""
    fs, root, bus = await _served(nursery, tree)
    d0 = await root.lookup(b"d0")
    listing = await d0.entries()  # type: ignore[attr-defined]
    link = await d0.lookup(b"link")  # type: ignore[attr-defined]
    assert any(name == b"link" for name, _, _ in listing) and link.target == b"e0"
    link.target = None  # as if the listing had come with no target for it
    assert await link.readlink() == b"e0"
    assert bus.counts.get("readlink") == 1
    await bus.proxy.close()
