"""Fault rules, argument names and experiment files, without a sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from abi.errno import EIO, ETIMEDOUT, Errno
from kernel.argnames import ArgNames, PathBook
from kernel.bus import Actor, Bus, operation
from kernel.experiment import Experiment, ExperimentError
from kernel.faults import FaultInjector, RuleError
from services.vfs.contract import Opened


class Files(Actor):
    """A VFS in miniature: handles opened by path, reads that fill their buffers."""

    service = "vfs"

    def __init__(self) -> None:
        self.asked: list[int] = []

    @operation
    async def root(self, caller: object) -> int:
        return 1

    @operation
    async def open(self, caller: object, root: int, start: int, path: bytes, flags: int) -> Opened:
        return Opened(10 + len(path))

    @operation
    async def read(self, caller: object, handle: int, buffers: list[memoryview], nowait: bool) -> int:
        self.asked.append(sum(len(b) for b in buffers))
        return sum(len(b) for b in buffers)


def _bus(*rules: str, seed: int = 0) -> tuple[Bus, Files, FaultInjector]:
    bus = Bus()
    files = Files()
    bus.register(files)
    injector = FaultInjector(list(rules), seed)
    injector.install(bus)
    return bus, files, injector


async def _read(bus: Bus, handle: int, size: int = 100) -> int | str:
    try:
        return await bus.call("vfs", "read", None, handle, [memoryview(bytearray(size))], True)
    except Errno as error:
        return f"errno {error.errno}"


async def test_a_path_rule_counts_only_the_reads_of_its_file() -> None:
    bus, _, injector = _bus("vfs.read:fail=EIO:path=/data/*:nth=2")
    root = await bus.call("vfs", "root", None)
    data = (await bus.call("vfs", "open", None, root, root, b"/data/f", 0)).handle
    other = (await bus.call("vfs", "open", None, root, root, b"/etc/passwd", 0)).handle
    results = [await _read(bus, handle) for handle in (other, data, other, data, data)]
    assert results == [100, 100, 100, f"errno {EIO}", 100]
    assert [rule.matched for rule in injector.rules] == [3]


async def test_relative_paths_are_resolved_from_the_start_handle() -> None:
    bus, _, _ = _bus("vfs.open:fail=EIO:path=/data/x")
    root = await bus.call("vfs", "root", None)
    assert await bus.call("vfs", "open", None, root, root, b"data/../data/y", 0) == Opened(24)
    with pytest.raises(Errno):
        await bus.call("vfs", "open", None, root, root, b"./data/x", 0)


async def test_short_reads_ask_the_actor_for_fewer_bytes() -> None:
    bus, files, _ = _bus("vfs.read:short", "vfs.open:fail=EIO")
    assert await _read(bus, 3, 100) == 50
    bus, files, _ = _bus("vfs.read:short=7")
    assert await _read(bus, 3, 100) == 7 and files.asked == [7]


async def test_size_rules_compare_the_bytes_asked_for() -> None:
    bus, _, _ = _bus("vfs.read:fail=EIO:size>4096")
    assert await _read(bus, 3, 4096) == 4096
    assert await _read(bus, 3, 4097) == f"errno {EIO}"


async def test_a_dropped_message_fails_after_its_timeout() -> None:
    bus, files, injector = _bus("vfs.read:drop=10ms")
    with trio.fail_after(5):
        assert await _read(bus, 3) == f"errno {ETIMEDOUT}"
    assert files.asked == [] and injector.hits[0].action == "drop"


async def test_the_summary_names_hits_and_rules_that_never_matched() -> None:
    bus, _, injector = _bus("vfs.read:fail=EIO:nth=2", "mm.brk:fail=ENOMEM")
    for _ in range(3):
        await _read(bus, 3)
    assert injector.summary() == [
        "fault rules (seed 0):",
        "  vfs.read:fail=EIO:nth=2: matched 3, hit 1: message 2 (kernel)",
        "  mm.brk:fail=ENOMEM: never matched",
    ]


@pytest.mark.parametrize("rule", ["vfs.read:fd>3", "vfs.read:short=0", "vfs.read:fail=EIO:errno=EIO",
                                  "vfs.read:drop=soon", "vfs.read:size>lots:fail=EIO"])
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(RuleError, match="fault rule"):
        FaultInjector([rule])


def test_argument_names_come_from_the_actor() -> None:
    bus = Bus()
    bus.register(Files())
    names = ArgNames(bus)
    assert names.names("vfs", "read") == ("caller", "handle", "buffers", "nowait")
    assert names.names("vfs", "nope") == () and names.names("nobody", "read") == ()
    book = PathBook()
    book.learn("vfs", "open", {"path": b"/a/b", "start": 1}, type("Opened", (), {"handle": 9})())
    assert book.paths({"handle": 9}) == ["/a/b"]
    assert book.paths({"path": b"c", "start": 9}) == ["/a/b/c"]


def test_experiment_files_fold_tables_into_rules(tmp_path: Path) -> None:
    path = tmp_path / "e.toml"
    path.write_text('seed = 4\ncommand = "cat /x"\nrules = ["vfs.read:fail=EIO"]\n'
                    '[[rule]]\ntarget = "vfs.write"\nshort = 10\nsize = ">100"\n'
                    '[[rule]]\ntarget = "mm.*"\ncrash = true\n'
                    '[services]\nvfs = "examples.oplog:vfs"\n[supervise.proc]\nintensity = 2\nerrno = "ENOENT"\n')
    experiment = Experiment.load(str(path))
    assert experiment.seed == 4 and experiment.command == ["cat", "/x"]
    assert experiment.rules == ["vfs.read:fail=EIO", "vfs.write:short=10:size>100", "mm.*:crash"]
    assert experiment.services == [("vfs", "examples.oplog:vfs")]
    assert experiment.supervise["proc"].intensity == 2 and experiment.supervise["proc"].errno == 2
    FaultInjector(experiment.rules)  # every rule parses


@pytest.mark.parametrize(("text", "message"), [
    ("seed = 1\nsed = 2\n", "unknown key 'sed'"),
    ("command = [1]\n", "command must be a list of strings"),
    ("[supervise.nope]\n", "no service named 'nope'"),
    ("[supervise.mm]\nstrategy = 'one_for_all'\n", "the only strategy is one_for_one"),
    ("[supervise.mm]\nerrno = 'EWHAT'\n", "no errno 'EWHAT'"),
    ("seed = \n", "Invalid value"),
])
def test_bad_experiment_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ExperimentError, match=message):
        Experiment.load(str(path))
