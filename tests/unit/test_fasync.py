"""services/vfs/fasync.py on its own: a failed send is logged, not raised, since it comes in the
middle of another call's change to a file (a write into a pipe), which stands."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from abi.linux import O_ASYNC, F_OWNER_PID, POLL_HUP, POLL_IN, POLL_OUT, POLLHUP, POLLIN, POLLOUT
from services.netstack.contract import SocketWatch
from services.vfs.contract import SigioOwner
from services.vfs.fasync import _WATCHED, SignalDrivenIo, _Fasync, _Hook
from services.vfs.pipe import new_pipe


class _FailingBus:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def call(self, *args: Any) -> None:
        self.calls.append(args)
        raise RuntimeError("the proc service is gone")


def test_a_failed_send_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    fasync = object.__new__(SignalDrivenIo)
    fasync.bus = _FailingBus()  # type: ignore[assignment]
    owner = SigioOwner(F_OWNER_PID, 7, 0, 0)
    with caplog.at_level(logging.ERROR, logger="sentrio.vfs.fasync"):
        fasync.send(_Fasync(new_pipe()[0], owner=owner, signo=0, fd=3), POLL_IN)
    assert fasync.bus.calls == [("proc", "send_sigio", owner, 0, 3, POLL_IN)]  # type: ignore[attr-defined]
    assert "sending" in caplog.text and "failed" in caplog.text


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, state: _Fasync, reason: int, signo: int | None = None) -> None:
        self.sent.append(reason)


def _hooked(file: Any, notifier: Any) -> _Recorder:
    """A hook on ``notifier`` for ``file``'s description with O_ASYNC, as _rewatch makes it."""
    file.flags |= O_ASYNC
    recorder = _Recorder()
    hook = _Hook(recorder)  # type: ignore[arg-type]
    hook.states.append(_Fasync(file, owner=SigioOwner(F_OWNER_PID, 7, 0, 0), ready=file.poll() & _WATCHED))
    notifier.fasync = hook
    return recorder


def test_a_pipe_signals_its_reader_at_every_write_and_its_writer_at_every_read() -> None:
    """pipe_write's and pipe_read's kill_fasync: per call, not per readiness gained."""
    reader, writer = new_pipe()
    heard = _hooked(reader, reader.pipe._changes)
    assert writer.write_nowait([memoryview(b"a")]) == 1
    assert writer.write_nowait([memoryview(b"b")]) == 1  # the pipe already held data
    assert reader.read_nowait([memoryview(bytearray(1))]) == 1
    assert heard.sent == [POLL_IN, POLL_IN]
    writer.release()
    assert heard.sent == [POLL_IN, POLL_IN, POLL_IN]  # pipe_release tells the readers POLL_IN

    reader, writer = new_pipe()
    heard = _hooked(writer, writer.pipe._changes)
    writer.write_nowait([memoryview(b"ab")])
    reader.read_nowait([memoryview(bytearray(1))])
    reader.release()
    assert heard.sent == [POLL_OUT, POLL_OUT]


def test_a_socket_hang_up_is_one_poll_hup() -> None:
    """A stream peer's close makes the socket readable (EOF) and hung up: one POLL_HUP, as
    unix_release_sock sends, not a POLL_IN besides."""
    events = [POLLOUT]
    watch = SocketWatch(lambda: events[0], lambda: (0, 0))
    file = SimpleNamespace(poll=lambda caller=None: watch.poll(), readable_bytes=lambda: 0, flags=0,
                           socket_identity=None, pts_index=None)
    heard = _hooked(file, watch)
    events[0] = POLLIN | POLLOUT | POLLHUP
    watch.changed()
    watch.changed()  # a change that gains nothing signals nothing
    assert heard.sent == [POLL_HUP]
