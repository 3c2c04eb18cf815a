"""Fixtures for the gofer tests: a sample tree, an in-process server, a spawned gofer."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio

from gofer.server import serve
from services.gofer_proxy.connection import GoferConnection, spawn_gofer


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with files, a subdirectory, symlinks (one aiming outside), and a secret outside."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("host secret\n")
    root = tmp_path / "root"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text("hello, gofer\n")
    (root / "dir" / "a").write_bytes(b"A" * 10)
    (root / "dir" / "sub" / "deep").write_text("deep\n")
    (root / "big").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    (root / "private").write_text("root only\n")
    os.chmod(root / "private", 0o600)
    os.symlink("../../outside/secret", root / "escape")
    os.symlink("/etc/passwd", root / "abs")
    os.symlink("dir", root / "dirlink")
    return root


Starter = Callable[..., Awaitable[GoferConnection]]


@pytest.fixture
async def inprocess(nursery: trio.Nursery) -> AsyncIterator[Starter]:
    """Start servers in this process (no confinement) and connect to them."""
    conns: list[GoferConnection] = []

    async def start(root: Path, *, writable: bool = False, donate_fds: bool = False,
                    msize: int = 1 << 20) -> GoferConnection:
        ours, theirs = socket.socketpair()
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        nursery.start_soon(_serve_then_close, theirs, root_fd, writable, donate_fds)
        conn = GoferConnection(ours, msize=msize)
        await nursery.start(conn.run)
        conns.append(conn)
        return conn

    yield start
    for conn in conns:
        await conn.aclose()


async def _serve_then_close(sock: socket.socket, root_fd: int, writable: bool, donate: bool) -> None:
    """The blocking server on a thread of its own; it ends when the client closes (EOF)."""
    def serve_then_close() -> None:
        try:
            serve(sock, root_fd, writable=writable, donate_fds=donate)
        finally:
            os.close(root_fd)

    await trio.to_thread.run_sync(serve_then_close, abandon_on_cancel=True)


@pytest.fixture
async def spawned(nursery: trio.Nursery) -> AsyncIterator[Callable[..., Awaitable[tuple]]]:
    """Start real ``python -m gofer`` processes; kill and reap them afterwards."""
    started: list[tuple] = []

    async def start(root: Path, rw: bool = False, **kwargs: object) -> tuple:
        process, conn = spawn_gofer(root, rw, **kwargs)  # type: ignore[arg-type]
        started.append((process, conn))
        await nursery.start(conn.run)
        return process, conn

    yield start
    for process, conn in started:
        await conn.aclose()
        try:
            process.wait(timeout=5)
        except Exception:
            process.kill()
            process.wait()
