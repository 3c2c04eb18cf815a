"""The real ``python -m gofer``: confinement, walking, reading, writing, and dying."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
from pathlib import Path

import pytest
import trio

from abi.linux import AT_REMOVEDIR
from gofer import protocol as p
from abi.errno import Errno

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the chroot confinement needs root")


def status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


async def expect_errno(code: int, call) -> None:  # noqa: ANN001
    with pytest.raises(Errno) as failure:
        await call
    assert failure.value.errno == code


@pytest.mark.parametrize(("rw", "caps"), [(False, 0b10), (True, 0b11011)])
async def test_the_gofer_is_confined_to_its_root(spawned, tree: Path, rw: bool, caps: int) -> None:
    process, conn = await spawned(tree, rw)
    root = os.stat(f"/proc/{process.pid}/root/")
    assert (root.st_dev, root.st_ino) == (tree.stat().st_dev, tree.stat().st_ino)  # pivoted into it
    info = status(process.pid)
    assert info["Uid"].split() == ["65534"] * 4
    assert int(info["CapEff"], 16) == caps  # DAC_OVERRIDE; and CHOWN, FOWNER, FSETID with --rw
    assert int(info["CapBnd"], 16) == caps
    assert info["NoNewPrivs"] == "1" and info["Seccomp"] == "2"


async def test_walk_getattr_read_and_readdir(spawned, tree: Path) -> None:
    _, conn = await spawned(tree)
    root = await conn.attach()
    fid = conn.new_fid()
    qids, attr = await conn.walk_getattr(root, [b"dir", b"sub", b"deep"], fid)
    assert [q.type for q in qids] == [p.QTDIR, p.QTDIR, p.QTFILE]
    assert attr.size == 5 and stat.S_ISREG(attr.mode)
    assert (await conn.getattr(fid))[0] == qids[-1]
    await conn.lopen(fid, os.O_RDONLY)
    assert await conn.read(fid, 0, 100) == b"deep\n"
    d = conn.new_fid()
    await conn.walk(root, [], d)
    await conn.lopen(d, os.O_RDONLY)
    entries = {e.name: e for e in await conn.readdir(d)}
    assert set(entries) == {b"dir", b"hello.txt", b"big", b"private", b"escape", b"abs", b"dirlink"}
    assert entries[b"escape"].type == 10 and entries[b"dir"].type == 4 and entries[b"big"].type == 8
    assert (await conn.statfs(root)).namelen == 255


async def test_a_root_only_file_is_readable(spawned, tree: Path) -> None:
    _, conn = await spawned(tree)
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [b"private"], fid)
    await conn.lopen(fid, os.O_RDONLY)
    assert await conn.read(fid, 0, 100) == b"root only\n"


async def test_symlinks_are_returned_not_followed(spawned, tree: Path) -> None:
    _, conn = await spawned(tree)
    root = await conn.attach()
    for name, target in [(b"escape", b"../../outside/secret"), (b"abs", b"/etc/passwd"), (b"dirlink", b"dir")]:
        fid = conn.new_fid()
        qids, attr = await conn.walk_getattr(root, [name], fid)
        assert qids[0].type == p.QTSYMLINK and stat.S_ISLNK(attr.mode)
        assert await conn.readlink(fid) == target
        await expect_errno(errno.ELOOP, conn.lopen(fid, os.O_RDONLY))
    # Walking through a symlink stops at it: a partial walk, and newfid stays unbound.
    newfid = conn.new_fid()
    qids = await conn.walk(root, [b"dirlink", b"a"], newfid)
    assert [q.type for q in qids] == [p.QTSYMLINK]
    await expect_errno(errno.EBADF, conn.getattr(newfid))
    assert len(await conn.walk(root, [b"escape", b"x"], conn.new_fid())) == 1


async def test_dotdot_and_slashes_are_refused(spawned, tree: Path) -> None:
    _, conn = await spawned(tree)
    root = await conn.attach()
    for names in ([b".."], [b"dir", b".."], [b"dir/sub"], [b"."], [b""], [b"/etc"]):
        await expect_errno(errno.EINVAL, conn.walk(root, names, conn.new_fid()))
    await expect_errno(errno.ENOENT, conn.walk(root, [b"missing"], conn.new_fid()))
    qids = await conn.walk(root, [b"dir", b"missing"], conn.new_fid())
    assert len(qids) == 1


async def test_writes_are_erofs_without_rw(spawned, tree: Path) -> None:
    _, conn = await spawned(tree)
    root = await conn.attach()
    await expect_errno(errno.EROFS, conn.mkdir(root, b"x", 0o755))
    await expect_errno(errno.EROFS, conn.lcreate(root, b"y", os.O_RDWR, 0o644))
    fid = conn.new_fid()
    await conn.walk(root, [b"hello.txt"], fid)
    await expect_errno(errno.EROFS, conn.lopen(fid, os.O_RDWR))
    assert not (tree / "x").exists() and not (tree / "y").exists()


async def test_rw_creates_writes_renames_and_removes_inside_the_root(spawned, tree: Path) -> None:
    _, conn = await spawned(tree, rw=True)
    root = await conn.attach()
    d = conn.new_fid()
    await conn.walk(root, [], d)
    await conn.mkdir(root, b"newdir", 0o750, uid=1000, gid=1000)
    assert (tree / "newdir").is_dir() and (tree / "newdir").stat().st_uid == 1000
    qid, _ = await conn.lcreate(d, b"made.txt", os.O_RDWR, 0o640, uid=1234, gid=5678)
    assert qid.type == p.QTFILE
    assert await conn.write(d, 0, b"written by the guest") == 20
    await conn.fsync(d)
    made = tree / "made.txt"
    assert made.read_bytes() == b"written by the guest"
    assert (made.stat().st_uid, made.stat().st_gid, stat.S_IMODE(made.stat().st_mode)) == (1234, 5678, 0o640)
    await conn.setattr(d, p.SETATTR_SIZE | p.SETATTR_MODE, size=7, mode=0o600)
    assert made.read_bytes() == b"written" and stat.S_IMODE(made.stat().st_mode) == 0o600
    await conn.symlink(root, b"newlink", b"../../outside/secret")
    assert os.readlink(tree / "newlink") == "../../outside/secret"
    await conn.link(root, d, b"hardlink")
    assert (tree / "hardlink").stat().st_ino == made.stat().st_ino
    await conn.mknod(root, b"fifo", stat.S_IFIFO | 0o644)
    assert stat.S_ISFIFO((tree / "fifo").lstat().st_mode)
    await expect_errno(errno.EPERM, conn.mknod(root, b"dev", stat.S_IFCHR | 0o644, 1, 3))
    newdir = conn.new_fid()
    await conn.walk(root, [b"newdir"], newdir)
    await conn.renameat(root, b"hardlink", newdir, b"moved")
    assert (tree / "newdir" / "moved").exists() and not (tree / "hardlink").exists()
    await conn.unlinkat(newdir, b"moved")
    await conn.unlinkat(root, b"fifo")
    await expect_errno(errno.ENOTEMPTY, conn.unlinkat(root, b"dir", AT_REMOVEDIR))
    await conn.unlinkat(root, b"newdir", AT_REMOVEDIR)
    assert not (tree / "newdir").exists()
    # A symlink to outside is not a directory to the gofer: nothing is created through it.
    link = conn.new_fid()
    await conn.walk(root, [b"newlink"], link)
    await expect_errno(errno.ENOTDIR, conn.mkdir(link, b"x", 0o755))
    await expect_errno(errno.ENOTDIR, conn.lcreate(link, b"x", os.O_RDWR, 0o644))
    assert os.listdir(tree.parent / "outside") == ["secret"]
    assert (tree.parent / "outside" / "secret").read_text() == "host secret\n"


async def test_donated_fd_reads_the_file(spawned, tree: Path) -> None:
    _, conn = await spawned(tree, donate_fds=True)
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [b"big"], fid)
    _, fd = await conn.lopen(fid, os.O_RDONLY)
    assert fd is not None
    try:
        assert os.pread(fd, 10, 256) == bytes(range(10))
        with pytest.raises(OSError):
            os.write(fd, b"x")  # read-only, as opened
    finally:
        os.close(fd)
    d = conn.new_fid()
    await conn.walk(root, [b"dir"], d)
    assert (await conn.lopen(d, os.O_RDONLY))[1] is None  # directories are not donated


async def test_a_donated_fd_the_sentry_has_no_room_for_fails_that_open_alone(spawned, tree: Path) -> None:
    """Out of fds, the kernel cuts the donated fd from the reply (MSG_CTRUNC): that open fails
    with ENFILE, as on a Linux out of files, and the connection goes on (it used to be lost as
    a protocol error, and every later file access failed with EIO)."""
    _, conn = await spawned(tree, donate_fds=True)
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [b"big"], fid)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers: list[int] = []
    try:
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
        while True:  # every fd number below the limit taken
            try:
                fillers.append(os.dup(0))
            except OSError:
                break
        await expect_errno(errno.ENFILE, conn.lopen(fid, os.O_RDONLY))
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    again = conn.new_fid()
    await conn.walk(root, [b"big"], again)
    _, fd = await conn.lopen(again, os.O_RDONLY)
    assert fd is not None and conn.dead is None
    try:
        assert os.pread(fd, 10, 256) == bytes(range(10))
    finally:
        os.close(fd)


async def test_twenty_concurrent_tasks(spawned, tree: Path) -> None:
    _, conn = await spawned(tree)
    root = await conn.attach()
    big = (tree / "big").read_bytes()
    got: dict[int, bytes] = {}

    async def task(i: int) -> None:
        fid = conn.new_fid()
        await conn.walk(root, [b"big"], fid)
        await conn.lopen(fid, os.O_RDONLY)
        got[i] = await conn.read(fid, i * 1000, 70_000)
        await conn.clunk(fid)

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(task, i)
    assert all(got[i] == big[i * 1000:i * 1000 + 70_000] for i in range(20))


async def test_a_killed_gofer_fails_pending_and_later_calls_with_eio(spawned, tree: Path) -> None:
    process, conn = await spawned(tree)
    root = await conn.attach()
    os.kill(process.pid, signal.SIGSTOP)  # requests now pend
    failures: list[int] = []

    async def pending() -> None:
        try:
            await conn.getattr(root)
        except Errno as error:
            failures.append(error.errno)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(pending)
            await trio.sleep(0.1)
            assert not failures
            os.kill(process.pid, signal.SIGKILL)
    assert failures == [errno.EIO] * 20
    with trio.fail_after(1):
        await expect_errno(errno.EIO, conn.getattr(root))
        await expect_errno(errno.EIO, conn.read(root, 0, 10))
    process.wait(timeout=5)


async def test_the_gofer_exits_when_the_connection_closes(spawned, tree: Path) -> None:
    process, conn = await spawned(tree)
    await conn.attach()
    await conn.aclose()
    assert process.wait(timeout=5) == 0
