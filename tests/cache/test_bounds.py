"""The image's cache stays within its bound, and forgets only what the gofer can give again.

A :class:`~services.vfs.overlay.GoferFs` over a real gofer (our proxy, a confined gofer process),
driven directly: no guest, so the number of entries cached can be read after every step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio

from abi.errno import ENOENT, Errno
from services.gofer_proxy.actor import GoferProxy
from services.vfs.inode import Dir, RegularInode
from services.vfs.overlay import GoferDir, GoferFs

BOUND = 40


class _Bus:
    """Just enough of the bus: every call goes to the one gofer proxy, counted by operation."""

    def __init__(self, proxy: GoferProxy) -> None:
        self.proxy = proxy
        self.counts: dict[str, int] = {}

    async def call(self, service: str, op: str, *args: Any) -> Any:
        assert service == "gofer"
        self.counts[op] = self.counts.get(op, 0) + 1
        return await getattr(self.proxy, op)(*args)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the gofer confines itself with namespaces and chroot, which need root")
    root = tmp_path / "tree"
    for d in range(12):
        for e in range(6):
            (root / f"d{d}" / f"e{e}").mkdir(parents=True)
            (root / f"d{d}" / f"e{e}" / "file").write_text(f"{d}.{e}\n")
    return root


async def _served(nursery: trio.Nursery, tree: Path, mode: str = "overlay") -> tuple[GoferFs, GoferDir, _Bus]:
    proxy = GoferProxy()
    await nursery.start(proxy.serve)
    bus = _Bus(proxy)
    mount = await proxy.mount(str(tree), mode == "rw")
    fs = GoferFs(bus, mount, mode, cache_entries=BOUND)  # type: ignore[arg-type]
    return fs, await fs.root(), bus


async def _walk(directory: Dir, seen: list[bytes], fs: GoferFs, prefix: bytes = b"") -> None:
    for name, _, _ in await directory.entries():
        if name in (b".", b".."):
            continue
        # beyond the bound only the entries of the directories in use: here the root's, a dN's, an eN's
        assert fs.cached <= BOUND + 12 + 6 + 1, "past the bound"
        child = await directory.lookup(name)
        seen.append(prefix + b"/" + name)
        if isinstance(child, Dir):
            await _walk(child, seen, fs, prefix + b"/" + name)


async def test_walking_a_large_tree_stays_within_the_bound(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    first: list[bytes] = []
    await _walk(root, first, fs)
    assert len(first) == 12 + 12 * 6 * 2  # every name once, however much was forgotten meanwhile
    listings = bus.counts.get("readdir_attrs", 0) + bus.counts.get("readdir_tree", 0)
    second: list[bytes] = []
    await _walk(root, second, fs)
    assert second == first
    assert bus.counts.get("readdir_attrs", 0) + bus.counts.get("readdir_tree", 0) > listings, \
        "the second walk listed again what was forgotten"
    await bus.proxy.close()


async def test_a_change_made_in_the_sandbox_is_never_forgotten(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    d3 = await root.lookup(b"d3")
    e1 = await d3.lookup(b"e1")  # type: ignore[attr-defined]
    made = await e1.make(b"new", 0o100644, 0, 0)  # type: ignore[attr-defined]
    assert isinstance(made, RegularInode)
    await d3.remove(b"e2", await d3.lookup(b"e2"))  # type: ignore[attr-defined]
    await _walk(root, [], fs)
    await _walk(root, [], fs)
    d3 = await root.lookup(b"d3")
    assert await (await d3.lookup(b"e1")).lookup(b"new") is made  # type: ignore[attr-defined]
    with pytest.raises(Errno) as error:
        await d3.lookup(b"e2")  # type: ignore[attr-defined]
    assert error.value.errno == ENOENT
    await bus.proxy.close()


async def test_an_inode_still_referenced_keeps_its_identity(tree: Path, nursery: trio.Nursery) -> None:
    """A file forgotten by its directory while something holds it (an open file, a cwd) is the
    same inode when looked up again: a change made through either is seen by both."""
    fs, root, bus = await _served(nursery, tree)
    held = await (await (await root.lookup(b"d0")).lookup(b"e0")).lookup(b"file")  # type: ignore[attr-defined]
    await _walk(root, [], fs)
    again = await (await (await root.lookup(b"d0")).lookup(b"e0")).lookup(b"file")  # type: ignore[attr-defined]
    assert again is held
    await bus.proxy.close()
