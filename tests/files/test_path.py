"""Path resolution on a tmpfs tree: "..", symlinks, loops, mounts, trailing slashes, long names."""

from __future__ import annotations

import pytest

from abi.creds import CAP_DAC_READ_SEARCH, KERNEL_CALLER, Caller, Credentials
from abi.errno import EACCES, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, Errno
from abi.linux import S_IFDIR, S_IFLNK, S_IFREG
from services.vfs.inode import Dir, Filesystem
from services.vfs.path import path_of, resolve


ROOT = KERNEL_CALLER


async def tree() -> Dir:
    fs = Filesystem()
    root = Dir(fs, 0o755)
    a = await root.make(b"a", S_IFDIR | 0o755, 0, 0)
    await a.make(b"file", S_IFREG | 0o644, 0, 0)
    await a.make(b"rel", S_IFLNK, 0, 0, target=b"file")
    await root.make(b"up", S_IFLNK, 0, 0, target=b"/../../a/../..")
    await root.make(b"loop", S_IFLNK, 0, 0, target=b"loop")
    mounted = Dir(Filesystem(), 0o1777)
    point = await root.make(b"mnt", S_IFDIR | 0o755, 0, 0)
    assert isinstance(point, Dir)
    point.covered_by, mounted.mountpoint, mounted.parent, mounted.name = mounted, point, root, b"mnt"
    return root


async def errno_of(root: Dir, path: bytes, **kwargs: bool) -> int:
    with pytest.raises(Errno) as error:
        await resolve(ROOT, root, root, path, **kwargs)
    return error.value.errno


async def test_dotdot_never_leaves_the_root() -> None:
    root = await tree()
    assert (await resolve(ROOT, root, root, b"/../../..")).inode is root
    assert (await resolve(ROOT, root, root, b"up")).inode is root
    assert (await resolve(ROOT, root, root, b"up/a/rel")).inode is (await resolve(ROOT, root, root, b"/a/file")).inode


async def test_symlinks_follow_and_nofollow() -> None:
    root = await tree()
    link = (await resolve(ROOT, root, root, b"a/rel", follow=False)).inode
    assert link is not None and link.kind == S_IFLNK
    assert (await resolve(ROOT, root, root, b"a/rel")).inode.kind == S_IFREG  # type: ignore[union-attr]
    assert await errno_of(root, b"loop") == ELOOP
    assert await errno_of(root, b"a/rel/") == ENOTDIR
    assert await errno_of(root, b"a/file/x") == ENOTDIR


async def test_missing_names_and_parents() -> None:
    root = await tree()
    found = await resolve(ROOT, root, root, b"a/new", parent=True)
    assert found.inode is None and found.name == b"new"
    assert await errno_of(root, b"a/new") == ENOENT
    assert await errno_of(root, b"nope/new", parent=True) == ENOENT
    assert await errno_of(root, b"") == ENOENT
    assert await errno_of(root, b"x" * 256) == ENAMETOOLONG
    assert await errno_of(root, b"a/" * 2048) == ENAMETOOLONG


async def test_mounts_are_crossed_both_ways() -> None:
    root = await tree()
    mounted = (await resolve(ROOT, root, root, b"/mnt")).inode
    assert isinstance(mounted, Dir) and mounted.mountpoint is not None
    assert (await resolve(ROOT, root, mounted, b"..")).inode is root
    assert path_of(mounted, root) == b"/mnt"
    sub = await mounted.make(b"sub", S_IFDIR | 0o755, 0, 0)
    assert isinstance(sub, Dir)
    assert path_of(sub, root) == b"/mnt/sub"


async def test_a_directory_above_the_root_is_named_from_the_top() -> None:
    top = Dir(Filesystem(), 0o755)
    jail = await top.make(b"jail", S_IFDIR | 0o755, 0, 0)
    outside = await top.make(b"outside", S_IFDIR | 0o755, 0, 0)
    assert isinstance(jail, Dir) and isinstance(outside, Dir)
    assert path_of(outside, jail) == b"/outside"  # /proc/PID/cwd's name, as d_path gives it
    assert path_of(outside, jail, unreachable=b"(unreachable)") == b"(unreachable)/outside"
    assert path_of(top, jail, unreachable=b"(unreachable)") == b"(unreachable)/"

async def test_every_directory_walked_needs_search_permission() -> None:
    root = Dir(Filesystem(), 0o755)
    private = await root.make(b"private", S_IFDIR | 0o700, 0, 0)
    assert isinstance(private, Dir)
    await private.make(b"file", S_IFREG | 0o644, 0, 0)
    user = Caller(2, 2, Credentials.of_user(1000, 1000))
    with pytest.raises(Errno) as error:
        await resolve(user, root, root, b"/private/file")
    assert error.value.errno == EACCES
    with pytest.raises(Errno) as error:  # ".." of a directory one may not search: EACCES too
        await resolve(user, root, private, b"../private")
    assert error.value.errno == EACCES
    assert (await resolve(user, root, root, b"/private")).inode is private  # the last name needs none
    searcher = Caller(3, 3, Credentials(1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
                                        cap_effective=1 << CAP_DAC_READ_SEARCH))
    assert (await resolve(searcher, root, root, b"/private/file")).inode is not None
