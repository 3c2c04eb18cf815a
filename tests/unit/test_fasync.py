"""services/vfs/fasync.py on its own: a watcher's failed send is logged and the watcher goes on,
since it runs in the VFS's own nursery."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from abi.linux import F_OWNER_PID, POLL_IN
from services.vfs.contract import SigioOwner
from services.vfs.fasync import SignalDrivenIo, _Fasync


class _FailingBus:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def call(self, *args: Any) -> None:
        self.calls.append(args)
        raise RuntimeError("the proc service is gone")


async def test_a_failed_send_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    fasync = object.__new__(SignalDrivenIo)
    fasync.bus = _FailingBus()  # type: ignore[assignment]
    owner = SigioOwner(F_OWNER_PID, 7, 0, 0)
    with caplog.at_level(logging.ERROR, logger="sentrio.vfs.fasync"):
        await fasync._send(_Fasync(owner=owner, signo=0, fd=3), POLL_IN)
    assert fasync.bus.calls == [("proc", "send_sigio", owner, 0, 3, POLL_IN)]  # type: ignore[attr-defined]
    assert "sending" in caplog.text and "failed" in caplog.text
