"""The ``vfs`` service's contract (services/vfs/contract.py), through the bus.

Every test talks to whatever actor serves ``vfs`` (ours, or ``--service vfs=...``) only with
operations, as the kernel does, over an image the suite builds: a few files and directories of
known owners and modes. The image is served by the ``gofer`` service as an overlay, so nothing
here changes it. Callers are a root guest (docker's capabilities) and a guest user 1000.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from abi.creds import Caller, Credentials
from abi.errno import (
    EACCES,
    EAGAIN,
    EBADF,
    EEXIST,
    EINVAL,
    EISDIR,
    ELOOP,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EPERM,
    EPIPE,
    ESPIPE,
)
from abi.linux import (
    EPOLL_CTL_ADD,
    F_RDLCK,
    F_WRLCK,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NONBLOCK,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    R_OK,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
    SEEK_END,
    SEEK_SET,
    W_OK,
    X_OK,
)
from services.vfs.contract import Attrs, Opened
from tests.contracts.conftest import OpenSandbox, Sandbox

SERVICES = ("mm", "signals", "gofer", "proc", "vfs")

ROOT = Caller(1, 1, Credentials.of_user(0, 0))
USER = Caller(2, 2, Credentials.of_user(1000, 1000))
OTHER = Caller(3, 3, Credentials.of_user(1001, 1001))
#: The fd tables the tests lock for (POSIX locks are owned by a table).
TABLE_A, TABLE_B = 101, 102
SECRET = b"root's eyes only\n"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "vfs-image"
    (root / "etc").mkdir(parents=True)
    (root / "tmp").mkdir()
    root.chmod(0o755)
    (root / "tmp").chmod(0o1777)
    (root / "etc" / "motd").write_bytes(b"hello, sandbox\n" * 300)
    (root / "etc" / "motd").chmod(0o644)
    (root / "etc" / "shadow").write_bytes(SECRET)
    (root / "etc" / "shadow").chmod(0o600)
    (root / "private").mkdir(mode=0o700)
    (root / "private" / "key").write_bytes(b"k")
    (root / "home").mkdir()
    (root / "home" / "user").mkdir()
    os.chown(root / "home" / "user", 1000, 1000)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"\x7fELF")
    (root / "bin" / "tool").chmod(0o4755)
    (root / "link").symlink_to("etc/motd")
    return root


@pytest.fixture
async def vfs(open_sandbox: OpenSandbox, image: Path) -> AsyncIterator[Sandbox]:
    async with open_sandbox(image=image) as box:
        yield box


async def root_handles(vfs: Sandbox, caller: Caller = ROOT) -> tuple[int, int]:
    """(root, cwd) handles for a caller, as a process holds them."""
    return await vfs.call("vfs", "root", caller), await vfs.call("vfs", "root", caller)


async def read_all(vfs: Sandbox, caller: Caller, handle: int, size: int = 1 << 16) -> bytes:
    buffer = bytearray(size)
    n = await vfs.call("vfs", "read", caller, handle, [memoryview(buffer)], False)
    return bytes(buffer[:n])


async def open_(vfs: Sandbox, caller: Caller, path: bytes, flags: int, mode: int = 0o644) -> int:
    root, cwd = await root_handles(vfs, caller)
    opened = await vfs.call("vfs", "open", caller, root, cwd, path, flags, mode)
    assert isinstance(opened, Opened) and not opened.pending
    return opened.handle


# --- names and data ---------------------------------------------------------------------------


async def test_open_read_seek_and_stat_a_file(vfs: Sandbox) -> None:
    handle = await open_(vfs, ROOT, b"/etc/motd", O_RDONLY)
    assert await read_all(vfs, ROOT, handle, 15) == b"hello, sandbox\n"
    assert await vfs.call("vfs", "seek", handle, -15, SEEK_END) == 15 * 299
    assert await read_all(vfs, ROOT, handle) == b"hello, sandbox\n"
    view = memoryview(bytearray(5))
    assert await vfs.call("vfs", "pread", ROOT, handle, [view], 7) == 5 and bytes(view) == b"sandb"
    st = await vfs.call("vfs", "fstat", handle)
    assert (st.mode & S_IFMT, st.size, st.uid) == (S_IFREG, 15 * 300, 0)
    assert await vfs.errno("vfs", "write", ROOT, handle, [memoryview(b"x")], False) == EBADF
    assert await vfs.errno("vfs", "seek", handle, -1, SEEK_SET) == EINVAL


async def test_path_errors_are_linux_s(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs)
    for path, flags, errno in ((b"/nope", O_RDONLY, ENOENT), (b"/etc/motd/x", O_RDONLY, ENOTDIR),
                               (b"/etc", O_WRONLY, EISDIR), (b"/etc/motd", O_RDONLY | O_DIRECTORY, ENOTDIR),
                               (b"/etc/motd", O_CREAT | O_EXCL | O_WRONLY, EEXIST)):
        assert await vfs.errno("vfs", "open", ROOT, root, cwd, path, flags, 0o644) == errno, path
    assert (await vfs.call("vfs", "stat", ROOT, root, cwd, b"/link", False)).mode & S_IFMT != S_IFREG
    assert (await vfs.call("vfs", "stat", ROOT, root, cwd, b"/link", True)).size == 15 * 300
    assert await vfs.call("vfs", "readlink", ROOT, root, cwd, b"/link") == b"etc/motd"
    assert await vfs.errno("vfs", "readlink", ROOT, root, cwd, b"/etc/motd") == EINVAL


async def test_names_are_made_listed_moved_and_removed(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs)
    await vfs.call("vfs", "mknod", ROOT, root, cwd, b"/tmp/d", S_IFDIR | 0o755, 0)
    handle = (await vfs.call("vfs", "open", ROOT, root, cwd, b"/tmp/d/f", O_CREAT | O_WRONLY, 0o600)).handle
    assert await vfs.call("vfs", "write", ROOT, handle, [memoryview(b"data")], False) == 4
    await vfs.call("vfs", "link", ROOT, root, cwd, b"/tmp/d/f", cwd, b"/tmp/d/g", False)
    await vfs.call("vfs", "symlink", ROOT, b"f", root, cwd, b"/tmp/d/s")
    listing = await vfs.call("vfs", "open", ROOT, root, cwd, b"/tmp/d", O_RDONLY | O_DIRECTORY, 0)
    records = await vfs.call("vfs", "getdents", listing.handle, 4096)
    assert all(name in records for name in (b"f\0", b"g\0", b"s\0"))
    assert await vfs.errno("vfs", "unlink", ROOT, root, cwd, b"/tmp/d", True) == ENOTEMPTY
    await vfs.call("vfs", "rename", ROOT, root, cwd, b"/tmp/d/g", cwd, b"/tmp/h", 0)
    assert (await vfs.call("vfs", "stat", ROOT, root, cwd, b"/tmp/h", True)).nlink == 2
    for name in (b"/tmp/d/f", b"/tmp/d/s"):
        await vfs.call("vfs", "unlink", ROOT, root, cwd, name, False)
    await vfs.call("vfs", "unlink", ROOT, root, cwd, b"/tmp/d", True)
    assert await vfs.errno("vfs", "stat", ROOT, root, cwd, b"/tmp/d", True) == ENOENT
    again = await open_(vfs, ROOT, b"/tmp/h", O_RDONLY)
    assert await read_all(vfs, ROOT, again) == b"data"


async def test_a_working_directory_is_a_handle(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs)
    etc = await vfs.call("vfs", "chdir", ROOT, root, cwd, b"/etc")
    assert await vfs.call("vfs", "getcwd", ROOT, root, etc) == b"/etc"
    assert (await vfs.call("vfs", "stat", ROOT, root, etc, b"motd", True)).size == 15 * 300
    assert await vfs.errno("vfs", "chdir", ROOT, root, cwd, b"/etc/motd") == ENOTDIR


# --- references -----------------------------------------------------------------------------------


async def test_a_handle_lives_until_its_last_reference_drops(vfs: Sandbox) -> None:
    handle = await open_(vfs, ROOT, b"/etc/motd", O_RDONLY)
    await vfs.call("vfs", "hold", (handle,))
    await vfs.call("vfs", "drop", (handle,), TABLE_A)
    assert await read_all(vfs, ROOT, handle, 5) == b"hello"
    await vfs.call("vfs", "drop", (handle,), TABLE_A)
    assert await vfs.errno("vfs", "fstat", handle) == EBADF


# --- permissions ------------------------------------------------------------------------------------


async def test_a_guest_user_may_not_read_or_change_root_s_files(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs, USER)
    assert await vfs.errno("vfs", "open", USER, root, cwd, b"/etc/shadow", O_RDONLY, 0) == EACCES
    assert await vfs.errno("vfs", "open", USER, root, cwd, b"/etc/motd", O_WRONLY, 0) == EACCES
    assert await vfs.errno("vfs", "open", USER, root, cwd, b"/etc/motd", O_RDONLY | O_TRUNC, 0) == EACCES
    assert await vfs.errno("vfs", "open", USER, root, cwd, b"/etc/new", O_CREAT | O_WRONLY, 0o644) == EACCES
    assert await vfs.errno("vfs", "stat", USER, root, cwd, b"/private/key", True) == EACCES
    assert await vfs.errno("vfs", "unlink", USER, root, cwd, b"/etc/motd", False) == EACCES
    assert await vfs.errno("vfs", "setattr", USER, root, cwd, b"/etc/motd", True, Attrs(mode=0o4777)) == EPERM
    assert await vfs.errno("vfs", "setattr", USER, root, cwd, b"/etc/motd", True, Attrs(uid=1000)) == EPERM
    assert await vfs.errno("vfs", "truncate", USER, root, cwd, b"/etc/motd", 0) == EACCES
    assert await read_all(vfs, USER, await open_(vfs, USER, b"/etc/motd", O_RDONLY), 5) == b"hello"
    handle = await open_(vfs, ROOT, b"/etc/shadow", O_RDONLY)
    assert await read_all(vfs, ROOT, handle) == SECRET


async def test_the_sticky_bit_keeps_users_off_each_other_s_files(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs, USER)
    await vfs.call("vfs", "open", USER, root, cwd, b"/tmp/mine", O_CREAT | O_WRONLY, 0o666)
    assert (await vfs.call("vfs", "stat", USER, root, cwd, b"/tmp/mine", True)).uid == 1000
    assert await vfs.errno("vfs", "unlink", OTHER, root, cwd, b"/tmp/mine", False) == EPERM
    assert await vfs.errno("vfs", "rename", OTHER, root, cwd, b"/tmp/mine", cwd, b"/tmp/theirs", 0) == EPERM
    await vfs.call("vfs", "unlink", USER, root, cwd, b"/tmp/mine", False)


async def test_owners_change_their_own_files_and_set_id_bits_fall_away(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs, USER)
    await vfs.call("vfs", "open", USER, root, cwd, b"/home/user/prog", O_CREAT | O_WRONLY, 0o755)
    await vfs.call("vfs", "setattr", USER, root, cwd, b"/home/user/prog", True, Attrs(mode=0o4755))
    assert (await vfs.call("vfs", "stat", USER, root, cwd, b"/home/user/prog", True)).mode & 0o7777 == 0o4755
    handle = await open_(vfs, USER, b"/home/user/prog", O_WRONLY)
    await vfs.call("vfs", "write", USER, handle, [memoryview(b"x")], False)  # a write drops S_ISUID
    assert (await vfs.call("vfs", "stat", USER, root, cwd, b"/home/user/prog", True)).mode & 0o7777 == 0o755
    await vfs.call("vfs", "setattr", ROOT, root, cwd, b"/bin/tool", True, Attrs(uid=1000))  # chown drops it too
    assert (await vfs.call("vfs", "stat", ROOT, root, cwd, b"/bin/tool", True)).mode & 0o7777 == 0o755


async def test_access_answers_for_the_real_ids(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs, USER)
    await vfs.call("vfs", "access", USER, root, cwd, b"/etc/motd", R_OK, True, False)
    assert await vfs.errno("vfs", "access", USER, root, cwd, b"/etc/motd", W_OK, True, False) == EACCES
    assert await vfs.errno("vfs", "access", USER, root, cwd, b"/etc/shadow", R_OK, True, False) == EACCES
    await vfs.call("vfs", "access", ROOT, root, cwd, b"/bin/tool", X_OK, True, False)
    assert await vfs.errno("vfs", "access", ROOT, root, cwd, b"/etc/motd", X_OK, True, False) == EACCES


async def test_a_program_opens_for_exec_with_execute_permission_only(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs, USER)
    program = await vfs.call("vfs", "open_exec", USER, root, cwd, b"/bin/tool")
    assert program.stat.mode & 0o4000 and program.path == b"/bin/tool"
    assert await vfs.errno("vfs", "open_exec", USER, root, cwd, b"/etc/motd") == EACCES
    assert await vfs.errno("vfs", "open_exec", USER, root, cwd, b"/etc") == EACCES


# --- pipes, readiness, locks --------------------------------------------------------------------------


async def test_a_pipe_moves_bytes_and_reports_its_ends(vfs: Sandbox) -> None:
    reader, writer = await vfs.call("vfs", "pipe", ROOT, O_NONBLOCK)
    empty = memoryview(bytearray(8))
    assert await vfs.call("vfs", "read", ROOT, reader, [empty], True) is None  # would wait
    assert await vfs.errno("vfs", "read", ROOT, reader, [empty], False) == EAGAIN
    assert await vfs.call("vfs", "poll", ROOT, ((reader, POLLIN), (writer, POLLOUT), (-1, POLLIN)), 0.0) == \
        (0, POLLOUT, POLLNVAL)
    assert await vfs.call("vfs", "write", ROOT, writer, [memoryview(b"ping")], True) == 4
    assert await vfs.call("vfs", "poll", ROOT, ((reader, POLLIN),), None) == (POLLIN,)
    assert await read_all(vfs, ROOT, reader) == b"ping"
    await vfs.call("vfs", "drop", (writer,), TABLE_A)
    assert await read_all(vfs, ROOT, reader) == b""
    assert await vfs.errno("vfs", "seek", reader, 0, SEEK_SET) == ESPIPE
    reader2, writer2 = await vfs.call("vfs", "pipe", ROOT, 0)
    await vfs.call("vfs", "drop", (reader2,), TABLE_A)
    assert await vfs.errno("vfs", "write", ROOT, writer2, [memoryview(b"x")], False) == EPIPE


async def test_a_blocked_read_wakes_when_data_arrives(vfs: Sandbox) -> None:
    reader, writer = await vfs.call("vfs", "pipe", ROOT, 0)
    got: list[bytes] = []

    async def reading() -> None:
        got.append(await read_all(vfs, ROOT, reader))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reading)
        await trio.testing.wait_all_tasks_blocked()
        await vfs.call("vfs", "write", ROOT, writer, [memoryview(b"late")], False)
    assert got == [b"late"]


async def test_epolls_may_not_watch_each_other_in_a_cycle(vfs: Sandbox) -> None:
    first, second = await vfs.call("vfs", "epoll_create", 0), await vfs.call("vfs", "epoll_create", 0)
    await vfs.call("vfs", "epoll_ctl", first, EPOLL_CTL_ADD, 4, second, POLLIN, 0)
    assert await vfs.errno("vfs", "epoll_ctl", second, EPOLL_CTL_ADD, 3, first, POLLIN, 0) == ELOOP
    event = await vfs.call("vfs", "eventfd", ROOT, 1, 0)
    await vfs.call("vfs", "epoll_ctl", second, EPOLL_CTL_ADD, 5, event, POLLIN, 77)
    assert await vfs.call("vfs", "epoll_wait", ROOT, second, 8, None) == [(POLLIN, 77)]
    file = await open_(vfs, ROOT, b"/etc/motd", O_RDONLY)
    assert await vfs.errno("vfs", "epoll_ctl", second, EPOLL_CTL_ADD, 6, file, POLLIN, 0) == EPERM


async def test_record_locks_conflict_between_fd_tables(vfs: Sandbox) -> None:
    handle = await open_(vfs, ROOT, b"/tmp/locked", O_CREAT | O_RDWR, 0o600)
    await vfs.call("vfs", "record_lock", ROOT, handle, TABLE_A, False, F_WRLCK, SEEK_SET, 0, 10, False)
    assert await vfs.errno("vfs", "record_lock", OTHER, handle, TABLE_B, False, F_RDLCK, SEEK_SET, 5, 1,
                           False) == EAGAIN
    holder = await vfs.call("vfs", "record_lock_query", OTHER, handle, TABLE_B, False, F_RDLCK, SEEK_SET, 0, 0)
    assert (holder.kind, holder.start, holder.end, holder.pid) == (F_WRLCK, 0, 9, ROOT.pid)
    await vfs.call("vfs", "hold", (handle,))
    await vfs.call("vfs", "drop", (handle,), TABLE_A)  # table A closed an fd of the file: its locks go
    assert await vfs.call("vfs", "record_lock_query", OTHER, handle, TABLE_B, False, F_WRLCK, SEEK_SET, 0,
                          0) is None


async def test_o_path_descriptions_name_a_file_and_do_nothing_else(vfs: Sandbox) -> None:
    root, cwd = await root_handles(vfs)
    path = (await vfs.call("vfs", "open", ROOT, root, cwd, b"/etc/motd", O_PATH, 0)).handle
    assert (await vfs.call("vfs", "stat", ROOT, root, path, b"", True)).size == 15 * 300
    assert await vfs.errno("vfs", "read", ROOT, path, [memoryview(bytearray(1))], False) == EBADF
    assert await vfs.errno("vfs", "getdents", path, 4096) == EBADF
    assert await vfs.errno("vfs", "fsetattr", ROOT, path, Attrs(mode=0o600)) == EBADF
