"""The server loop in-process: malformed input, concurrency, flush, splitting, read-only."""

from __future__ import annotations

import errno
import os
import stat
import socket
from pathlib import Path

import msgpack
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abi.linux import RENAME_EXCHANGE
from gofer import protocol as p
from gofer.server import serve
from abi.errno import Errno


async def raw_exchange(root: Path, payload: bytes) -> bytes:
    """Send ``payload`` then EOF to a fresh in-process server; return all it answers."""
    ours, theirs = socket.socketpair()
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    received = bytearray()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: trio.to_thread.run_sync(serve, theirs, root_fd, abandon_on_cancel=True))
            sock = trio.socket.from_stdlib_socket(ours)
            await sock.send(payload)
            sock.shutdown(socket.SHUT_WR)  # EOF: an unfinished frame must not wait forever
            with trio.fail_after(5):
                while data := await sock.recv(65536):
                    received += data
    finally:
        os.close(root_fd)
        ours.close()
    return bytes(received)


def replies(data: bytes) -> list[tuple[int, object]]:
    decoder = p.Decoder(p.Direction.REPLY)
    decoder.feed(data)
    return list(decoder)


async def test_the_server_closes_a_connection_that_sends_garbage(tree: Path) -> None:
    hello = p.encode(p.Tversion(8192, p.VERSION), 1)
    assert await raw_exchange(tree, hello + b"\xc1garbage") == p.encode(p.Rversion(8192, p.VERSION), 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=200))
async def test_any_garbage_ends_in_replies_or_a_clean_close(tree: Path, garbage: bytes) -> None:
    answer = await raw_exchange(tree, garbage + msgpack.packb([999, 0]))
    replies(answer)  # whatever came back is well-formed


async def test_a_bad_name_sent_raw_is_refused_with_einval(tree: Path) -> None:
    frames = [p.encode(p.Tversion(8192, p.VERSION), 1), p.encode(p.Tattach(1, ""), 2),
              msgpack.packb([110, 3, 1, 2, [b".."]]), msgpack.packb([110, 4, 1, 2, [b"dir/sub"]])]
    got = dict(replies(await raw_exchange(tree, b"".join(frames))))
    assert got[3] == got[4] == p.Rlerror(errno.EINVAL)


async def test_requests_are_answered_one_at_a_time_in_order(tree: Path) -> None:
    """Each request is answered before the next is read: a tag may be used again once answered,
    and Tflush is answered at once (what it names has been answered already)."""
    frames = [p.encode(p.Tversion(8192, p.VERSION), 1), p.encode(p.Tattach(1, ""), 2),
              p.encode(p.Tgetattr(1, p.GETATTR_BASIC), 9), p.encode(p.Tread(1, 0, 1), 9), p.encode(p.Tflush(9), 10),
              p.encode(p.Tgetattr(7, p.GETATTR_BASIC), 11)]
    got = replies(await raw_exchange(tree, b"".join(frames)))
    assert [tag for tag, _ in got] == [1, 2, 9, 9, 10, 11]
    assert [type(reply) for _, reply in got[2:]] == [p.Rgetattr, p.Rlerror, p.Rflush, p.Rlerror]
    assert got[3][1] == p.Rlerror(errno.EBADF) and got[5][1] == p.Rlerror(errno.EBADF)  # not opened; no fid 7


async def test_twenty_tasks_get_their_own_replies(inprocess, tree: Path) -> None:
    conn = await inprocess(tree)
    root = await conn.attach()
    results: dict[int, bytes] = {}

    async def reader(i: int) -> None:
        fid = conn.new_fid()
        name = [b"hello.txt", b"dir", b"big"][i % 3]
        await conn.walk(root, [name], fid)
        if name == b"dir":
            await conn.lopen(fid, os.O_RDONLY)
            results[i] = b",".join(sorted(e.name for e in await conn.readdir(fid)))
        else:
            await conn.lopen(fid, os.O_RDONLY)
            results[i] = await conn.read(fid, i, 5)
        await conn.clunk(fid)

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(reader, i)
    big = (tree / "big").read_bytes()
    hello = (tree / "hello.txt").read_bytes()
    for i, got in results.items():
        expected = [hello[i:i + 5], b"a,sub", big[i:i + 5]][i % 3]
        assert got == expected, i
    assert len(results) == 20


async def test_large_reads_and_writes_are_split_at_msize(inprocess, tmp_path: Path, tree: Path) -> None:
    conn = await inprocess(tree, writable=True, msize=p.MIN_MSIZE)
    assert conn.msize == p.MIN_MSIZE
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [b"big"], fid)
    await conn.lopen(fid, os.O_RDWR)
    big = (tree / "big").read_bytes()
    assert await conn.read(fid, 100, 50_000) == big[100:50_100]
    assert await conn.read(fid, len(big) - 10, 50_000) == big[-10:]
    view = memoryview(bytearray(20_000))
    assert await conn.readinto(fid, 7, view) == 20_000 and bytes(view) == big[7:20_007]
    data = os.urandom(30_000)
    assert await conn.write(fid, 1000, data) == 30_000
    assert (tree / "big").read_bytes()[1000:31_000] == data


async def test_a_cancelled_caller_flushes_its_tag(inprocess, tree: Path) -> None:
    conn = await inprocess(tree)
    root = await conn.attach()
    with trio.move_on_after(0):
        await conn.getattr(root)
    with trio.fail_after(60):  # the Tflush/Rflush round trip gives the tag back; no timing asserted
        while conn._slots:
            await trio.sleep(0.01)
    assert conn.dead is None
    assert (await conn.getattr(root))[0].type == p.QTDIR
    assert not conn._slots  # the flushed tag was given back


async def test_without_rw_every_write_is_erofs(inprocess, tree: Path) -> None:
    conn = await inprocess(tree)
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [b"hello.txt"], fid)
    attempts = [conn.mkdir(root, b"new", 0o755), conn.symlink(root, b"l", b"x"),
                conn.mknod(root, b"fifo", 0o10644), conn.link(root, fid, b"hard"),
                conn.renameat(root, b"hello.txt", root, b"moved"), conn.unlinkat(root, b"hello.txt"),
                conn.setattr(fid, p.SETATTR_MODE, mode=0o777), conn.lopen(fid, os.O_WRONLY),
                conn.lcreate(conn.new_fid() if False else root, b"created", os.O_RDWR, 0o644)]
    for attempt in attempts:
        with pytest.raises(Errno) as failure:
            await attempt
        assert failure.value.errno == errno.EROFS
    assert sorted(os.listdir(tree)) == sorted(["dir", "hello.txt", "big", "private", "escape", "abs", "dirlink"])


async def test_unknown_fids_and_reused_newfids_are_ebadf(inprocess, tree: Path) -> None:
    conn = await inprocess(tree)
    root = await conn.attach()
    with pytest.raises(Errno) as failure:
        await conn.getattr(12345)
    assert failure.value.errno == errno.EBADF
    fid = conn.new_fid()
    await conn.walk(root, [b"dir"], fid)
    with pytest.raises(Errno) as failure:
        await conn.walk(root, [b"hello.txt"], fid)
    assert failure.value.errno == errno.EBADF


async def test_readdir_pages_with_cookies(inprocess, tree: Path) -> None:
    for i in range(300):
        (tree / "dir" / f"file{i:03}").write_text("x")
    conn = await inprocess(tree)
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [b"dir"], fid)
    await conn.lopen(fid, os.O_RDONLY)
    seen: list[bytes] = []
    offset = 0
    while page := await conn.readdir(fid, offset, 1000):
        seen += [e.name for e in page]
        offset = page[-1].offset
    assert sorted(seen) == sorted([b"a", b"sub"] + [f"file{i:03}".encode() for i in range(300)])


async def test_inode_numbers_are_the_gofers_own_and_shared_by_hard_links(inprocess, tree: Path) -> None:
    os.link(tree / "hello.txt", tree / "dir" / "linked")
    conn = await inprocess(tree)
    root = await conn.attach()
    (hello,) = await conn.walk(root, [b"hello.txt"], conn.new_fid())
    linked = (await conn.walk(root, [b"dir", b"linked"], conn.new_fid()))[-1]
    (big,) = await conn.walk(root, [b"big"], conn.new_fid())
    assert hello.path == linked.path != big.path
    assert hello.path != os.stat(tree / "hello.txt").st_ino  # the host's number stays in the gofer
    directory = conn.new_fid()
    await conn.walk(root, [b"dir"], directory)
    await conn.lopen(directory, os.O_RDONLY)
    listed = {entry.name: entry.qid.path for entry in await conn.readdir(directory)}
    assert listed[b"linked"] == hello.path


def test_inode_numbers_are_the_same_in_every_gofer_given_the_key() -> None:
    """A spare gofer taking over (supervision) numbers each file as the dead one did."""
    from gofer.files import InodeNumbers

    key = bytes(range(16))
    first, spare, other = InodeNumbers(key), InodeNumbers(key), InodeNumbers(bytes(16))
    files = [(2049, ino) for ino in range(1, 200)]
    assert [first.of(*f) for f in files] == [spare.of(*f) for f in reversed(files)][::-1]
    assert [first.of(*f) for f in files] != [other.of(*f) for f in files]
    assert len({first.of(*f) for f in files}) == len(files)
    assert all(0 < first.of(*f) < 1 << 63 for f in files)


async def test_rename_exchange_swaps_two_names_in_one_request(inprocess, tree: Path) -> None:
    conn = await inprocess(tree, writable=True)
    root = await conn.attach()
    directory = conn.new_fid()
    await conn.walk(root, [b"dir"], directory)
    await conn.renameat(root, b"hello.txt", directory, b"a", RENAME_EXCHANGE)
    assert (tree / "hello.txt").read_bytes() == b"A" * 10
    assert (tree / "dir" / "a").read_text() == "hello, gofer\n"
    with pytest.raises(Errno) as failure:  # nothing to swap with
        await conn.renameat(root, b"hello.txt", directory, b"missing", RENAME_EXCHANGE)
    assert failure.value.errno == errno.ENOENT


async def test_a_walk_with_attributes_binds_newfid_to_a_directory_only(inprocess, tree: Path) -> None:
    """Twalkattrs ending at a file binds no fid (the Sentry would only clunk it again); ending
    at a directory it binds newfid there, and so does a walk that stops at a missing name."""
    conn = await inprocess(tree)
    root = await conn.attach()
    to_file, to_dir, partial = conn.new_fid(), conn.new_fid(), conn.new_fid()
    qids, attrs = await conn.walk_attrs(root, [b"dir", b"a"], to_file)
    assert len(qids) == 2 and stat.S_ISREG(attrs[-1].mode)
    with pytest.raises(Errno) as failure:
        await conn.getattr(to_file)
    assert failure.value.errno == errno.EBADF
    qids, attrs = await conn.walk_attrs(root, [b"dir", b"sub"], to_dir)
    assert (await conn.getattr(to_dir))[0] == qids[-1]
    qids, _ = await conn.walk_attrs(root, [b"dir", b"missing", b"x"], partial)
    assert len(qids) == 1 and (await conn.getattr(partial))[0] == qids[0]


async def test_an_open_for_its_fd_only_keeps_no_fid(inprocess, tree: Path) -> None:
    """Twalkopen with NOFID donates the opened file's fd and leaves nothing bound."""
    conn = await inprocess(tree, donate_fds=True)
    root = await conn.attach()
    _, fd = await conn.walk_open(root, [b"dir", b"a"], p.NOFID, os.O_RDONLY)
    assert fd is not None
    try:
        assert os.read(fd, 100) == b"A" * 10
    finally:
        os.close(fd)
    with pytest.raises(Errno) as failure:
        await conn.getattr(p.NOFID)
    assert failure.value.errno == errno.EBADF
    fid = conn.new_fid()  # and the next open of the same file binds as before
    _, again = await conn.walk_open(root, [b"dir", b"a"], fid, os.O_RDONLY)
    assert again is not None
    os.close(again)
    await conn.getattr(fid)


async def test_a_tree_listing_refuses_an_empty_path_beside_the_first(inprocess, tree: Path) -> None:
    """Only the first path may be empty (fid's own directory): another names a directory below
    it, and an empty one is EINVAL, not a listing of fid's directory as if it were below."""
    conn = await inprocess(tree)
    root = await conn.attach()
    entries, last, _ = await conn.readdir_tree(root, [[]], 1 << 16)
    assert last and set(entries.names) >= {b"dir", b"hello.txt"}
    with pytest.raises(Errno) as failure:
        await conn.readdir_tree(root, [[b"dir"], []], 1 << 16)
    assert failure.value.errno == errno.EINVAL


async def test_one_request_opens_many_files_each_failing_alone(inprocess, tree: Path) -> None:
    """Topenmany opens each name for its fd (the Sentry's open-ahead): a name that is missing,
    a directory or a symbolic link fails with Tlopen's errno without failing the others."""
    conn = await inprocess(tree, donate_fds=True)
    root = await conn.attach()
    opened = await conn.open_many(root, [], [b"hello.txt", b"dir", b"escape", b"missing", b"big"], os.O_RDONLY)
    assert [result if isinstance(result, int) else 0 for result in opened] == [0, errno.EISDIR, errno.ELOOP,
                                                                              errno.ENOENT, 0]
    for result, name in ((opened[0], "hello.txt"), (opened[4], "big")):
        assert not isinstance(result, int)
        qid, fd = result
        try:
            assert qid.path == (await conn.walk_getattr(root, [name.encode()], conn.new_fid()))[0][0].path
            assert os.pread(fd, 1 << 21, 0) == (tree / name).read_bytes()
        finally:
            os.close(fd)
    [inner] = await conn.open_many(root, [b"dir"], [b"a"], os.O_RDONLY)
    assert not isinstance(inner, int) and os.pread(inner[1], 100, 0) == b"A" * 10
    os.close(inner[1])


async def test_opening_many_is_bounded_read_only_and_never_through_a_link(inprocess, tree: Path) -> None:
    conn = await inprocess(tree, donate_fds=True)
    root = await conn.attach()
    refusals = [
        (errno.EINVAL, conn.open_many(root, [], [b"hello.txt"] * (p.OPEN_MANY + 1), os.O_RDONLY)),
        (errno.EROFS, conn.open_many(root, [], [b"hello.txt"], os.O_RDWR)),
        (errno.ENOTDIR, conn.open_many(root, [b"dirlink"], [b"a"], os.O_RDONLY)),  # no path through a link
    ]
    for expected, call in refusals:
        with pytest.raises(Errno) as failure:
            await call
        assert failure.value.errno == expected
    keeping = await inprocess(tree)  # a gofer that donates no fds has nothing to open them for
    with pytest.raises(Errno) as failure:
        await keeping.open_many(await keeping.attach(), [], [b"hello.txt"], os.O_RDONLY)
    assert failure.value.errno == errno.EINVAL


async def test_frames_larger_than_the_socket_buffer_never_interleave(inprocess, tmp_path: Path, tree: Path) -> None:
    """Writes of several MiB, from tasks writing at once: each frame is part-written by the
    socket, and those of other tasks queue behind it whole (the Sentry's end of the socket)."""
    conn = await inprocess(tree, writable=True)
    root = await conn.attach()
    payloads = {name: os.urandom(3 << 20) for name in (b"big", b"hello.txt", b"private")}

    async def write(name: bytes, data: bytes) -> None:
        fid = conn.new_fid()
        await conn.walk(root, [name], fid)
        await conn.lopen(fid, os.O_RDWR)
        assert await conn.write(fid, 0, data) == len(data)
        await conn.clunk(fid)

    async with trio.open_nursery() as nursery:
        for name, data in payloads.items():
            nursery.start_soon(write, name, data)
    for name, data in payloads.items():
        assert (tree / name.decode()).read_bytes()[:len(data)] == data
    assert conn.dead is None and not conn._unsent


async def test_an_entry_s_attributes_are_listed_through_its_directory(inprocess, tree: Path) -> None:
    """Txattrlist with a name lists that entry of the directory fid, binding nothing; the name
    must be one real component (no way out through it), and a symlink's list is empty."""
    try:
        os.setxattr(tree / "dir" / "a", "user.tag", b"1")
    except OSError:
        pytest.skip("the host's file system keeps no user.* attributes here")
    conn = await inprocess(tree)
    root = await conn.attach()
    directory = conn.new_fid()
    await conn.walk(root, [b"dir"], directory)
    assert (await conn.request(p.Txattrlist(directory, b"a"))).names == [b"user.tag"]
    assert (await conn.request(p.Txattrlist(root, b"escape"))).names == []  # a symlink, not followed
    for bad in (b"..", b"a/../../outside", b"."):
        with pytest.raises(Errno) as refused:
            await conn.request(p.Txattrlist(directory, bad))
        assert refused.value.errno == errno.EINVAL
    with pytest.raises(Errno) as missing:
        await conn.request(p.Txattrlist(directory, b"nothing"))
    assert missing.value.errno == errno.ENOENT
