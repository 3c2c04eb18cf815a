"""The VFS's operations that move data from one file to another: sendfile, splice, tee and
copy_file_range.

The data never leaves the VFS: it goes through a buffer of at most 1 MiB (64 KiB for splice and
tee, which may return short counts as Linux's do). The kernel runs these calls as interruptible
sleeps, and only the wait for the first bytes may be cut short by a signal: once data has moved
the rest of the call is shielded, so no byte read from the source is lost.

A file's pread and pwrite (a tmpfs memfd, a host file) are plain host calls that never let
another task run, so a copy of up to ``MAX_RW_COUNT`` bytes yields after every chunk: without
it one ``sendfile`` of a file into itself held every process of the sandbox for the whole copy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from abi.inotify import IN_ACCESS, IN_MODIFY
from abi.errno import EAGAIN, EBADF, EINVAL, ESPIPE, Errno
from abi.linux import (
    MAX_RW_COUNT,
    O_APPEND,
    O_NONBLOCK,
    PAGE_SIZE,
    POLLIN,
    S_IFREG,
    SPLICE_F_GIFT,
    SPLICE_F_MORE,
    SPLICE_F_MOVE,
    SPLICE_F_NONBLOCK,
)
from kernel.bus import operation
from services.vfs.contract import Handle
from services.vfs.descriptions import DescriptionOperations
from services.vfs.limits import within_size_limit
from services.vfs.pipe import PipeFile

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.vfs.file import File
    from services.vfs.pipe import Pipe

_CHUNK = 1 << 20
#: How long a copy runs before it lets other tasks run (a checkpoint after every chunk cost
#: more than the chunk when chunks are small: one scheduler pass and one epoll call each).
_SLICE = 0.001
_SPLICE_CHUNK = 1 << 16
_SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT


def _pipe_of(file: File) -> Pipe | None:
    return file.pipe if isinstance(file, PipeFile) else None


def _first_chunk(source: File, offset: int | None, count: int) -> int:
    """The buffer a copy of ``count`` bytes starts with: up to :data:`_CHUNK`, but no larger
    than the rest of a regular file (a page at least: the size is a hint that the host may have
    outgrown), since a fresh megabyte costs ~30 µs to clear and most files are small (cp asks
    for the largest count it can at every file)."""
    size = min(count, _CHUNK)
    inode = source.inode
    if inode is not None and inode.kind == S_IFREG:
        left = inode.size() - (source.offset if offset is None else offset)
        size = min(size, max(left, PAGE_SIZE))
    return size


class TransferOperations(DescriptionOperations):
    """sendfile, splice, tee, copy_file_range."""

    def _ends(self, source: Handle, sink: Handle) -> tuple[File, File]:
        """The two descriptions: the source open for reading, the sink for writing (EBADF)."""
        reader, writer = self.file(source), self.file(sink)
        if not reader.readable or not writer.writable:
            raise Errno(EBADF)
        return reader, writer

    @contextlib.asynccontextmanager
    async def _coherent(self, source: File, sink: File) -> AsyncIterator[None]:
        """Stores made through MAP_SHARED mappings of either file reach it first; the sink's
        mapped pages read it again after."""
        await self._sync_mapped(source, wrote=False)
        await self._sync_mapped(sink, wrote=False)
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                await self._sync_mapped(sink, wrote=True)

    async def _copy(self, caller: Caller, source: File, source_offset: int | None, sink: File,
                    sink_offset: int | None, count: int) -> tuple[int, int | None, int | None, int]:
        """Move up to ``count`` bytes; an offset of None uses (and moves) the description's own.
        Returns the count, the offsets after and the errno that cut the copy short (0 if none).

        Once some bytes moved, a source with nothing more ready (a pipe, a terminal) ends the
        copy, and the rest is shielded from the caller's interruption. An error once some bytes
        moved ends the copy with their count, as Linux's splice_direct_to_actor answers. The
        sink's writes are cut at the caller's RLIMIT_FSIZE, as generic_write_checks cuts them.
        """
        done = cut_short = 0
        sized = sink.inode is not None and sink.inode.kind == S_IFREG
        checkpoint_at = time.monotonic() + _SLICE
        buffer = bytearray(_first_chunk(source, source_offset, count))
        while done < count:
            if done and not source.poll() & POLLIN:
                break
            if len(buffer) < min(count - done, _CHUNK) and done >= len(buffer):  # it was filled: grow
                buffer = bytearray(min(count - done, _CHUNK, 4 * len(buffer)))
            view = memoryview(buffer)[:count - done]
            try:
                n = await (source.read_as(caller, [view]) if source_offset is None
                           else source.pread([view], source_offset))
            except Errno as error:
                if done:
                    cut_short = error.errno
                    break
                raise
            if n == 0:
                break
            chunk = view[:n]
            repeats = self._repeats(source, source_offset, sink, sink_offset, n, count - done)
            if repeats > 1:
                chunk = memoryview(bytes(chunk) * repeats)
            with trio.CancelScope(shield=True):  # the bytes are out of the source: they must land
                try:
                    if sized:
                        chunk = within_size_limit(caller, sink.offset if sink_offset is None else sink_offset,
                                                  [chunk])[0]
                    written = await (sink.write_as(caller, [chunk]) if sink_offset is None
                                     else sink.pwrite([chunk], sink_offset))
                except Errno as error:
                    if done:
                        cut_short = error.errno
                        break
                    raise
            if source_offset is not None:
                source_offset += written
            if sink_offset is not None:
                sink_offset += written
            done += written
            if written < len(chunk):
                break
            if time.monotonic() >= checkpoint_at:  # other processes run between chunks
                await trio.lowlevel.cancel_shielded_checkpoint()
                checkpoint_at = time.monotonic() + _SLICE
        if done and self.watched:  # as do_sendfile and copy_file_range tell fsnotify
            self.notify_file(source, IN_ACCESS)
            self.notify_file(sink, IN_MODIFY)
        return done, source_offset, sink_offset, cut_short

    @staticmethod
    def _repeats(source: File, source_offset: int | None, sink: File, sink_offset: int | None, n: int,
                 left: int) -> int:
        """How many times the ``n`` bytes just read may be written at once: more than once when
        a file is copied onto its own end (sendfile of a file to itself, at an offset ``n``
        bytes before the end it appends to). Linux then reads back, chunk after chunk, exactly
        the ``n`` bytes it wrote, so the copy is those bytes repeated; writing them repeated
        gives the same file, the same counts and offsets, in far fewer steps."""
        if source_offset is None or sink_offset is not None or source.inode is None or source.inode is not sink.inode:
            return 1
        if source_offset + n != sink.offset:
            return 1
        return max(1, min(left, _CHUNK) // n)
    @operation
    async def sendfile(self, caller: Caller, sink: Handle, source: Handle, offset: int | None,
                       count: int) -> tuple[int, int | None, int]:
        reader, writer = self._ends(source, sink)
        if writer.flags & O_APPEND or reader.socket_identity is not None:
            raise Errno(EINVAL)  # a socket cannot be sendfile's source
        async with self._coherent(reader, writer):
            done, end, _, cut_short = await self._copy(caller, reader, offset, writer, None,
                                                       min(count, MAX_RW_COUNT))
        return done, end, cut_short

    @operation
    async def copy_file_range(self, caller: Caller, source: Handle, source_offset: int | None, sink: Handle,
                              sink_offset: int | None, count: int) -> tuple[int, int | None, int | None, int]:
        reader, writer = self._ends(source, sink)
        if writer.flags & O_APPEND:
            raise Errno(EBADF)
        for file in (reader, writer):
            if file.inode is None or file.inode.kind != S_IFREG:
                raise Errno(EINVAL)
        start_in = reader.offset if source_offset is None else source_offset
        start_out = writer.offset if sink_offset is None else sink_offset
        if reader.inode is writer.inode and start_in < start_out + count and start_out < start_in + count:
            raise Errno(EINVAL)  # overlapping ranges of one file
        async with self._coherent(reader, writer):
            return await self._copy(caller, reader, source_offset, writer, sink_offset, min(count, MAX_RW_COUNT))

    @operation
    async def splice(self, caller: Caller, source: Handle, source_offset: int | None, sink: Handle,
                     sink_offset: int | None, count: int, flags: int) -> tuple[int, int | None, int | None]:
        reader, writer = self._ends(source, sink)
        source_pipe, sink_pipe = _pipe_of(reader), _pipe_of(writer)
        if source_pipe is None and sink_pipe is None or flags & ~_SPLICE_FLAGS:
            raise Errno(EINVAL)
        if source_pipe is not None and source_offset is not None or sink_pipe is not None and sink_offset is not None:
            raise Errno(ESPIPE)
        if source_pipe is not None and source_pipe is sink_pipe:
            raise Errno(EINVAL)
        if writer.flags & O_APPEND and sink_offset is not None:
            raise Errno(EINVAL)
        if count == 0:
            return 0, source_offset, sink_offset
        nonblock = bool(flags & SPLICE_F_NONBLOCK)
        async with self._coherent(reader, writer):
            view = memoryview(bytearray(min(count, _SPLICE_CHUNK)))
            if source_pipe is not None:
                n = await source_pipe.read([view], nonblock or bool(reader.flags & O_NONBLOCK))
            elif source_offset is not None:
                n = await reader.pread([view], source_offset)
            else:
                n = await reader.read_as(caller, [view])
            if n == 0:
                return 0, source_offset, sink_offset
            with trio.CancelScope(shield=True):
                if sink_pipe is not None:
                    written = await sink_pipe.write([view[:n]], nonblock or bool(writer.flags & O_NONBLOCK))
                elif sink_offset is not None:
                    written = await writer.pwrite([view[:n]], sink_offset)
                else:
                    written = await writer.write_as(caller, [view[:n]])
        return (written, None if source_offset is None else source_offset + n,
                None if sink_offset is None else sink_offset + written)

    @operation
    async def tee(self, caller: Caller, source: Handle, sink: Handle, count: int, flags: int) -> int:
        reader, writer = self.file(source), self.file(sink)
        source_pipe, sink_pipe = _pipe_of(reader), _pipe_of(writer)
        if source_pipe is None or sink_pipe is None or source_pipe is sink_pipe or flags & ~_SPLICE_FLAGS:
            raise Errno(EINVAL)
        if not reader.readable or not writer.writable:
            raise Errno(EBADF)
        if count == 0:
            return 0
        nonblock = bool(flags & SPLICE_F_NONBLOCK)
        while not source_pipe.buffer:
            if source_pipe.writers == 0:
                return 0
            if nonblock or reader.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            await source_pipe.wait()
        data = source_pipe.peek(min(count, _SPLICE_CHUNK))
        return await sink_pipe.write([memoryview(data)], nonblock or bool(writer.flags & O_NONBLOCK))
