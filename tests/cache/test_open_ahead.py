"""A reader of a whole directory gets its files opened ahead (``open_many``), and right.

Over a real gofer (our proxy, a confined gofer process), driven directly as in test_bounds.py:
opening the files of a listed directory in listing order (grep -r, tar), inode order (cp -r) or
name order (compileall, git) costs a few requests instead of one per file; every byte read is
the host's; a file changed in the sandbox keeps its own bytes; opens in no order, or under the
shared policy, open one at a time.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import trio

from abi.linux import O_RDONLY, O_WRONLY
from services.vfs import overlay
from services.vfs.overlay import OPEN_AHEAD, GoferDir, GoferFs, GoferRegular
from tests.cache.test_bounds import _served

FILES = 100


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the gofer confines itself with namespaces and chroot, which need root")
    root = tmp_path / "tree"
    (root / "dir" / "sub").mkdir(parents=True)
    numbers = list(range(FILES))
    random.Random(3).shuffle(numbers)  # created out of name order: inode order is another
    for i in numbers:
        (root / "dir" / f"f{i:03}").write_bytes(f"file {i}\n".encode() * (i + 1))
    (root / "dir" / "link").symlink_to("f000")
    return root


async def _files_in_listing_order(fs: GoferFs, root: GoferDir) -> list[tuple[bytes, GoferRegular]]:
    fs.cache_entries = 1 << 16
    directory = await root.lookup(b"dir")
    assert isinstance(directory, GoferDir)
    files = []
    for name, _, _ in await directory.entries():
        if name not in (b".", b".."):
            child = await directory.lookup(name)
            if isinstance(child, GoferRegular):
                files.append((name, child))
    assert len(files) == FILES
    return files


async def _read(inode: GoferRegular) -> bytes:
    fd = await inode.data_fd(O_RDONLY)
    try:
        return os.pread(fd, 1 << 16, 0)
    finally:
        os.close(fd)


def _in_order(files: list[tuple[bytes, GoferRegular]], order: str) -> list[tuple[bytes, GoferRegular]]:
    if order == "inode":
        return sorted(files, key=lambda file: file[1].ino)
    return sorted(files) if order == "name" else files


@pytest.mark.parametrize("order", ["listing", "inode", "name"])
async def test_a_directory_read_in_order_is_opened_a_batch_at_a_time(tree: Path, nursery: trio.Nursery,
                                                                     order: str) -> None:
    fs, root, bus = await _served(nursery, tree)
    files = _in_order(await _files_in_listing_order(fs, root), order)
    for name, inode in files:
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    opens = bus.counts.get("lopen", 0) + bus.counts.get("open_many", 0)
    assert bus.counts.get("open_many", 0) >= 1
    # The first file of an order opens the next ones with it: one request per OPEN_AHEAD + 1.
    assert opens <= -(-FILES // (OPEN_AHEAD + 1)), bus.counts
    assert len(fs._readonly_fds) <= fs.readonly_fd_bound
    await bus.proxy.close()


async def test_a_reading_forgotten_meanwhile_goes_on_a_batch_at_a_time(tree: Path, nursery: trio.Nursery) -> None:
    """tar and grep -r go through a directory's subdirectories between its files; past
    OPEN_AHEAD_DIRECTORIES of them the directory's reading is forgotten. The file opened when
    the reader comes back follows only files opened already: it opens the next ones with it."""
    fs, root, bus = await _served(nursery, tree)
    files = await _files_in_listing_order(fs, root)
    for _, inode in files[:40]:
        await _read(inode)
    fs._readings.clear()  # as after reading more directories elsewhere
    fs._last_opened = None
    before = bus.counts.get("lopen", 0)
    for name, inode in files[40:]:
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    assert bus.counts.get("lopen", 0) == before, bus.counts
    await bus.proxy.close()


async def test_the_three_orders_differ_in_the_test_tree(tree: Path, nursery: trio.Nursery) -> None:
    """Else the test above could not tell one order from another."""
    fs, root, bus = await _served(nursery, tree)
    files = await _files_in_listing_order(fs, root)
    assert len({tuple(_in_order(files, order)) for order in ("listing", "inode", "name")}) == 3
    await bus.proxy.close()


async def test_a_file_changed_in_the_sandbox_keeps_its_bytes(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    files = await _files_in_listing_order(fs, root)
    changed = files[5][1]
    fd = await changed.data_fd(O_WRONLY)  # copied up: from now on its bytes are the Sentry's
    os.pwrite(fd, b"sandbox\n", 0)
    os.close(fd)
    for name, inode in files:
        expected = b"sandbox\n" if inode is changed else (tree / "dir" / name.decode()).read_bytes()
        assert (await _read(inode))[:len(expected)] == expected
    assert bus.counts.get("open_many", 0) >= 1
    await bus.proxy.close()


async def test_files_opened_in_no_order_are_opened_one_at_a_time(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    files = await _files_in_listing_order(fs, root)
    orders = [{name: index for index, (name, _) in enumerate(_in_order(files, order))}
              for order in ("listing", "inode", "name")]

    def ascending(*names: bytes) -> bool:
        return any(order[names[0]] < order[names[1]] < order[names[2]] for order in orders)

    def neighbours(first: bytes, second: bytes) -> bool:
        return any(order[second] == order[first] + 1 for order in orders)

    def in_no_order(shuffled: list[tuple[bytes, GoferRegular]]) -> list[tuple[bytes, GoferRegular]]:
        # Not the first of any order, then no neighbours, nor three in a row ascending, in any.
        chosen = [next(file for file in shuffled if all(order[file[0]] > 0 for order in orders))]
        for file in shuffled:
            if file is not chosen[0] and not neighbours(chosen[-1][0], file[0]) and (
                    len(chosen) < 2 or not ascending(chosen[-2][0], chosen[-1][0], file[0])):
                chosen.append(file)
        return chosen

    generator = random.Random(7)
    chosen = max((in_no_order(generator.sample(files, len(files))) for _ in range(20)), key=len)
    assert len(chosen) >= 10
    for name, inode in chosen[:10]:
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    assert "open_many" not in bus.counts and bus.counts["lopen"] == 10
    shuffled = files[10:-10]
    random.Random(14).shuffle(shuffled)
    for name, inode in shuffled[:20]:  # at random: never more than a request per file
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    assert bus.counts["lopen"] + bus.counts.get("open_many", 0) <= 30
    await bus.proxy.close()


async def test_the_shared_policy_opens_nothing_ahead(tree: Path, nursery: trio.Nursery) -> None:
    """Where the host may change files (--rw), a file opened ahead could be a stale one."""
    fs, root, bus = await _served(nursery, tree, mode="rw")
    files = await _files_in_listing_order(fs, root)
    for name, inode in files[:10]:
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    assert "open_many" not in bus.counts
    await bus.proxy.close()


async def test_orders_kept_from_before_a_change_in_the_sandbox_still_read_right(tree: Path,
                                                                               nursery: trio.Nursery) -> None:
    """A directory's sorted orders are kept while its number of entries stays the same: a file
    removed and another made in the sandbox leave that number as it was, and the stale orders
    may only make a guess worse, never an open fail or read the wrong bytes."""
    from abi.linux import S_IFREG

    fs, root, bus = await _served(nursery, tree)
    files = await _files_in_listing_order(fs, root)
    directory = await root.lookup(b"dir")
    assert isinstance(directory, GoferDir)
    for _, inode in files[:3]:
        await _read(inode)
    assert directory in fs._orders
    removed = files[40]
    await directory.remove(removed[0], removed[1])
    await directory.make(b"new", S_IFREG | 0o644, 0, 0)
    assert fs._orders[directory][0] == len(directory.children)  # the orders are kept: stale
    fs._readings.clear()  # a reading begins again (as after opens elsewhere)...
    fs._last_opened = None
    for name, inode in [files[39], files[42], *files[3:]]:  # ...across the removed name
        if inode is not removed[1]:
            assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    await bus.proxy.close()


async def test_files_read_again_within_the_bound_cost_no_request(tree: Path, nursery: trio.Nursery) -> None:
    """A second pass over the tree (grep -r twice, a rebuild) dups the kept fds; past the
    bound the least recently used fds are closed and their files opened again."""
    fs, root, bus = await _served(nursery, tree)
    files = await _files_in_listing_order(fs, root)
    for _, inode in files:
        await _read(inode)
    opened = bus.counts.get("lopen", 0) + bus.counts["open_many"]
    for name, inode in files:
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    assert bus.counts.get("lopen", 0) + bus.counts["open_many"] == opened
    await bus.proxy.close()


async def test_past_the_bound_the_least_recently_used_fds_are_closed(tree: Path, nursery: trio.Nursery) -> None:
    fs, root, bus = await _served(nursery, tree)
    fs.readonly_fd_bound = 10
    files = await _files_in_listing_order(fs, root)
    for _, inode in files:
        await _read(inode)
    assert list(fs._readonly_fds) == [inode for _, inode in files[-10:]]
    opened = bus.counts.get("lopen", 0) + bus.counts["open_many"]
    for name, inode in files[:10]:
        assert await _read(inode) == (tree / "dir" / name.decode()).read_bytes()
    assert bus.counts.get("lopen", 0) + bus.counts["open_many"] > opened
    assert len(fs._readonly_fds) == 10
    await bus.proxy.close()


async def test_the_sandboxs_mounts_share_one_bound(tree: Path, nursery: trio.Nursery) -> None:
    """A volume's files and the image's are kept in one cache (the VFS passes it to every
    mount): many volumes do not multiply the host fds kept."""
    fs, root, bus = await _served(nursery, tree)
    volume = GoferFs(bus, await bus.proxy.mount(str(tree), False), "ro",  # type: ignore[arg-type]
                     readonly_fds=fs._readonly_fds)
    fs.readonly_fd_bound = volume.readonly_fd_bound = 10
    image_files = await _files_in_listing_order(fs, root)
    volume_files = await _files_in_listing_order(volume, await volume.root())
    for (name, inode), (_, other) in zip(image_files, volume_files):
        assert await _read(inode) == await _read(other) == (tree / "dir" / name.decode()).read_bytes()
    kept = list(fs._readonly_fds)
    assert len(kept) == 10 and kept == [file for pair in zip(image_files[-5:], volume_files[-5:])
                                        for _, file in pair]
    await bus.proxy.close()


@pytest.mark.parametrize(("soft", "bound"), [(512, 128), (1024, 256), (20_000, 2_500), (1 << 20, 4096)])
def test_the_fd_cache_is_an_eighth_of_the_fd_limit_within_bounds(
        monkeypatch: pytest.MonkeyPatch, soft: int, bound: int) -> None:
    monkeypatch.setattr(overlay.resource, "getrlimit", lambda resource: (soft, soft))
    assert overlay.readonly_fd_cache_size() == bound
