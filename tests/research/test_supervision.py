"""Supervision: a crashed actor restarted by its policy; a killed gofer replaced by a spare."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from abi.errno import EIO, ENOENT, Errno
from kernel.bus import Actor, Bus, operation
from tests.hostprocs import process_args
from tests.research.conftest import REPO, needs_root, sentrio


def _gofers(image: Path) -> list[int]:
    """The pids of the gofers serving ``image``, oldest first."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = process_args(entry)
            if "gofer" in argv and str(image) in argv:
                found.append(int(entry))
    return sorted(found)


def _lines_until(stream, predicate) -> list[str]:
    lines = []
    while True:
        line = stream.readline()
        assert line, f"the guest ended early: {lines[-5:]}"
        lines.append(line.rstrip("\n"))
        if predicate(lines):
            return lines


@needs_root
def test_a_killed_gofer_fails_the_calls_in_flight_then_opens_work_again(image: Path, tmp_path: Path) -> None:
    experiment = tmp_path / "gofer.toml"
    experiment.write_text('command = ["/bin/opener"]\n[supervise.gofer]\nrestarts = 1\n')
    guest = subprocess.Popen([sys.executable, "-m", "kernel", "run", "--experiment", str(experiment), str(image)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert guest.stdout is not None
        lines = _lines_until(guest.stdout, lambda lines: len(lines) >= 3)
        primary, spare = _gofers(image)
        # Stop the gofer, so the guest's next open waits for its reply; once the guest has gone
        # quiet, that open is in flight. Then kill the gofer under it.
        os.kill(primary, signal.SIGSTOP)
        last = len(lines)
        while True:  # (the guest prints a line every 10 ms while its opens are answered)
            time.sleep(2.0)
            if not _ready(guest.stdout):
                break
            lines.append(guest.stdout.readline().rstrip("\n"))
        os.kill(primary, signal.SIGKILL)
        out, err = guest.communicate(timeout=120)
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    lines += out.splitlines()
    outcomes = [line.split(" ", 1)[1] for line in lines if line[0].isdigit()]
    assert set(outcomes[:last]) == {"ENOENT"}
    first_eio = outcomes.index("EIO")
    assert outcomes[first_eio + 1:] == ["ENOENT"] * 5, lines[-8:]
    assert lines[-1] == "read /data/g: " + (image / "data" / "g").read_text().rstrip("\n")
    assert guest.returncode == 0, err
    assert f"gofer[{primary}] is gone" in err and f"to gofer[{spare}]" in err
    assert _gofers(image) == []  # the spare was reaped with the sandbox


def _ready(stream) -> bool:
    import select

    return bool(select.select([stream], [], [], 0)[0])


class Flaky(Actor):
    """Crashes on ``boom``; counts what it serves (state a restart loses)."""

    service = "flaky"
    built = 0

    def __init__(self) -> None:
        Flaky.built += 1
        self.served = 0

    @operation
    async def ok(self) -> int:
        self.served += 1
        return self.served

    @operation
    async def boom(self) -> int:
        raise RuntimeError("bug")

    @operation
    async def slow(self) -> int:
        await trio.sleep_forever()
        return 0


class FakeKernel:
    """What the supervisor needs of a kernel: the factories, spawning, the processes."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.config = type("Config", (), {"services": {"flaky": lambda kernel: Flaky()}})()
        self.processes: dict[int, object] = {}
        self.nursery = nursery

    def spawn(self, function, *args) -> None:
        self.nursery.start_soon(function, *args)


async def test_one_for_one_restarts_within_the_intensity_then_gives_up() -> None:
    from kernel.supervise import Policy, RestartingSupervisor

    bus = Bus()
    bus.register(Flaky())
    async with trio.open_nursery() as nursery:
        supervisor = RestartingSupervisor(FakeKernel(nursery), {"flaky": Policy("flaky", intensity=2, period=60,
                                                                                 errno=ENOENT)})
        supervisor.install(bus)
        assert await bus.call("flaky", "ok") == 1
        assert await bus.call("flaky", "ok") == 2
        in_flight: list[int] = []

        async def waits() -> None:
            try:
                await bus.call("flaky", "slow")
            except Errno as error:
                in_flight.append(error.errno)

        nursery.start_soon(waits)
        await trio.testing.wait_all_tasks_blocked()
        before = Flaky.built
        with pytest.raises(Errno) as crashed:
            await bus.call("flaky", "boom")
        assert crashed.value.errno == ENOENT
        await trio.testing.wait_all_tasks_blocked()
        assert in_flight == [ENOENT]  # the call in flight failed with the policy's errno
        assert Flaky.built == before + 1
        assert await bus.call("flaky", "ok") == 1  # a fresh actor: its count was lost
        with pytest.raises(Errno):
            await bus.call("flaky", "boom")
        await trio.testing.wait_all_tasks_blocked()
        assert supervisor.restarts == {"flaky": 2} and supervisor.gave_up is None
        with pytest.raises(Errno) as third:
            await bus.call("flaky", "boom")
        assert third.value.errno == ENOENT and supervisor.gave_up == "flaky"
        with pytest.raises(Errno) as after:
            await bus.call("flaky", "ok")  # down for good
        assert after.value.errno == ENOENT
        nursery.cancel_scope.cancel()


async def test_a_service_without_a_policy_keeps_the_default() -> None:
    from kernel.supervise import Policy, RestartingSupervisor

    bus = Bus()
    bus.register(Flaky())
    async with trio.open_nursery() as nursery:
        RestartingSupervisor(FakeKernel(nursery), {"other": Policy("other")}).install(bus)
        with pytest.raises(Errno) as crashed:
            await bus.call("flaky", "boom")
        assert crashed.value.errno == EIO
        assert await bus.call("flaky", "ok") == 1  # the same actor
        nursery.cancel_scope.cancel()


@needs_root
def test_a_crashed_proc_actor_is_restarted_and_the_guest_goes_on(image: Path, tmp_path: Path) -> None:
    experiment = tmp_path / "proc.toml"
    experiment.write_text('command = ["sh", "-c", "ls /proc >/dev/null; ls /proc | grep -c ^1$"]\n'
                          'rules = ["proc.pids:crash:nth=1"]\n[supervise.proc]\nintensity = 1\n')
    result = sentrio("run", "--experiment", str(experiment), str(image))
    assert result.stdout == "1\n" and result.returncode == 0
    assert "supervisor: restarting proc (restart 1)" in result.stderr


async def test_a_call_made_while_the_replacement_starts_waits_for_it() -> None:
    """Only the calls in flight at the crash fail: one made before the new actor is ready (the
    restart has not been scheduled yet) is answered by the new actor."""
    from kernel.supervise import Policy, RestartingSupervisor

    bus = Bus()
    bus.register(Flaky())
    async with trio.open_nursery() as nursery:
        RestartingSupervisor(FakeKernel(nursery), {"flaky": Policy("flaky", errno=ENOENT)}).install(bus)
        assert await bus.call("flaky", "ok") == 1
        with pytest.raises(Errno):
            await bus.call("flaky", "boom")
        assert await bus.call("flaky", "ok") == 1  # at once: no other task ran since the crash
        nursery.cancel_scope.cancel()
