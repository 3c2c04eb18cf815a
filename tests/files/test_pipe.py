"""Pipes between trio tasks: blocking, atomic small writes, EPIPE, end of file."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from abi.errno import EAGAIN, EPIPE
from abi.linux import O_NONBLOCK, PIPE_DEFAULT_SIZE
from abi.errno import Errno
from services.vfs.pipe import new_pipe


def views(*sizes: int) -> list[memoryview]:
    return [memoryview(bytearray(size)) for size in sizes]


async def test_a_blocked_reader_wakes_on_write_and_sees_eof_on_close() -> None:
    reader, writer = new_pipe()
    got: list[bytes] = []

    async def read_all() -> None:
        while True:
            buffer = views(8)
            n = await reader.read(buffer)
            if n == 0:
                return
            got.append(bytes(buffer[0][:n]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await trio.testing.wait_all_tasks_blocked()
        assert await writer.write([memoryview(b"abc")]) == 3
        await trio.testing.wait_all_tasks_blocked()
        writer.release()
    assert got == [b"abc"]


async def test_a_full_pipe_blocks_the_writer_until_read() -> None:
    reader, writer = new_pipe()
    big = memoryview(bytes(PIPE_DEFAULT_SIZE + 100))
    async with trio.open_nursery() as nursery:
        done = []

        async def write() -> None:
            done.append(await writer.write([big]))

        nursery.start_soon(write)
        await trio.testing.wait_all_tasks_blocked()
        assert not done
        assert await reader.read(views(1000)) == 1000
    assert done == [len(big)]


async def test_epipe_and_eagain() -> None:
    reader, writer = new_pipe(O_NONBLOCK)
    with pytest.raises(Errno) as error:
        await reader.read(views(1))
    assert error.value.errno == EAGAIN
    reader.release()
    with pytest.raises(Errno) as error:
        await writer.write([memoryview(b"x")])
    assert error.value.errno == EPIPE
    assert writer.write_nowait([]) == 0 and await writer.write([]) == 0  # the length comes first


def test_nowait_paths_move_bytes_in_order_across_buffers() -> None:
    reader, writer = new_pipe()
    assert reader.read_nowait(views(4)) is None  # empty, a writer open: it would wait
    assert writer.write_nowait([memoryview(b"abc"), memoryview(b""), memoryview(b"defg")]) == 7
    first, second = views(2, 3)
    assert reader.read_nowait([first, second]) == 5
    assert (bytes(first), bytes(second)) == (b"ab", b"cde")
    rest = views(8)
    assert reader.read_nowait(rest) == 2 and bytes(rest[0][:2]) == b"fg"
    assert writer.read_nowait(views(1)) is None and reader.write_nowait([memoryview(b"x")]) is None


def test_write_nowait_is_all_or_nothing_and_reader_sees_eof() -> None:
    reader, writer = new_pipe()
    assert writer.write_nowait([memoryview(bytes(PIPE_DEFAULT_SIZE - 1))]) == PIPE_DEFAULT_SIZE - 1
    assert writer.write_nowait([memoryview(b"xy")]) is None  # one byte of room: nothing is written
    assert reader.readable_bytes() == PIPE_DEFAULT_SIZE - 1
    writer.release()
    assert reader.read_nowait(views(PIPE_DEFAULT_SIZE)) == PIPE_DEFAULT_SIZE - 1
    assert reader.read_nowait(views(1)) == 0  # no writer left: end of file


async def test_a_large_write_is_split_across_reads_in_order() -> None:
    reader, writer = new_pipe()
    data = bytes(range(256)) * (3 * PIPE_DEFAULT_SIZE // 256)
    got = bytearray()

    async def read_all() -> None:
        while n := await reader.read(buffer := views(5000)):
            got.extend(buffer[0][:n])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        half = len(data) // 2
        assert await writer.write([memoryview(data)[:half], memoryview(data)[half:]]) == len(data)
        writer.release()
    assert got == data
