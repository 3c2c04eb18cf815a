"""kernel/sigio.py's send_sigio on its own: a real-time F_SETSIG signal that cannot be queued
(RLIMIT_SIGPENDING reached: EAGAIN) becomes plain SIGIO, as Linux's send_sigio_to_task falls
back; a signal with si_codes of its own says SI_SIGIO."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from abi import structs
from abi.errno import EAGAIN, Errno
from abi.linux import F_OWNER_PID, POLL_IN, RLIMIT_SIGPENDING, SI_KERNEL, SI_SIGIO, SIGRTMIN, Signal
from kernel.sigio import send_sigio, sigio_info
from services.vfs.contract import SigioOwner


class _FullQueueBus:
    """The signals service with no room for another queued real-time signal."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    async def call(self, service: str, op: str, pid: int, tid: int | None, signo: int, info: bytes,
                   bound: Any) -> bool:
        if signo >= SIGRTMIN:
            raise Errno(EAGAIN)
        self.sent.append((signo, structs.SIGINFO_HEAD.unpack_from(info)[2]))
        return True


async def test_a_real_time_signal_without_room_comes_as_sigio() -> None:
    process = SimpleNamespace(pid=5, zombie=False, creds=SimpleNamespace(uid=0, suid=0),
                              rlimits={RLIMIT_SIGPENDING: (0, 0)})
    bus = _FullQueueBus()
    kernel = SimpleNamespace(processes={5: process}, threads={}, bus=bus)
    await send_sigio(kernel, SigioOwner(F_OWNER_PID, 5, 0, 0), SIGRTMIN, 3, POLL_IN)  # type: ignore[arg-type]
    assert bus.sent == [(Signal.SIGIO, SI_KERNEL)]


def test_a_signal_with_codes_of_its_own_says_si_sigio() -> None:
    signo, info = sigio_info(Signal.SIGCHLD, 3, POLL_IN)
    assert (signo, structs.SIGINFO_HEAD.unpack_from(info)[2]) == (Signal.SIGCHLD, SI_SIGIO)
    assert structs.SIGINFO_HEAD.unpack_from(sigio_info(SIGRTMIN, 3, POLL_IN)[1])[2] == POLL_IN
