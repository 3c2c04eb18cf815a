"""Pipes between trio tasks: blocking, atomic small writes, EPIPE, end of file."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kernel.abi.errno import EAGAIN, EPIPE
from kernel.abi.linux import O_NONBLOCK, PIPE_DEFAULT_SIZE
from kernel.errors import Errno
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
