"""Swapping made safe: contracts, the delegating base, and the checks ``--service`` passes at boot."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
import trio

from abi.errno import EINVAL, ENOSYS, Errno
from kernel.bus import Actor, Bus, Contract, ContractError, Delegating, check_actor, is_abstract, operation
from kernel.kernel import DEFAULT_SERVICES, SERVICE_CONTRACTS, service_contract
from tests.contracts.conftest import sentrio

# --- a toy service --------------------------------------------------------------------------------


class CounterContract(Contract):
    service = "counter"

    @operation
    async def add(self, amount: int) -> int:
        """Add ``amount``; reply the total. EINVAL for a negative amount."""
        raise NotImplementedError

    @operation
    async def total(self) -> int:
        raise NotImplementedError


class Counter(CounterContract):
    def __init__(self) -> None:
        self.value = 0
        self.served = self.closed = False

    @operation
    async def add(self, amount: int) -> int:
        if amount < 0:
            raise Errno(EINVAL)
        self.value += amount
        return self.value

    @operation
    async def total(self) -> int:
        return self.value

    @operation
    async def reset(self) -> None:  # an extra operation: allowed, and forwarded too
        self.value = 0

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.served = True
        task_status.started()

    async def close(self) -> None:
        self.closed = True


class Doubling(Delegating):
    """Overrides one operation, inherits the rest."""

    @operation
    async def add(self, amount: int) -> int:
        reply: int = await self.forward("add", 2 * amount)
        return reply


class Recording(Delegating):
    """Sees every forwarded operation through the hook."""

    def __init__(self, inner: Actor) -> None:
        super().__init__(inner)
        self.seen: list[str] = []

    async def forward(self, op: str, *args: Any) -> Any:
        self.seen.append(op)
        return await super().forward(op, *args)


class HalfCounter(Actor):
    @operation
    async def add(self, amount: int) -> int:
        return amount


# --- contracts -----------------------------------------------------------------------------------------


def test_a_contracts_declarations_are_abstract_and_an_actors_operations_are_not() -> None:
    assert CounterContract.contract is CounterContract and Counter.contract is CounterContract
    assert all(is_abstract(getattr(CounterContract, op)) for op in CounterContract.operations)
    assert not any(is_abstract(getattr(Counter, op)) for op in Counter.operations)
    assert Counter.operations == {"add", "total", "reset"}


OUR_ACTORS = {
    "mm": "services.mm.actor:MemoryManager",
    "signals": "services.signals.actor:SignalsActor",
    "gofer": "services.gofer_proxy.actor:GoferProxy",
    "proc": "kernel.procinfo:ProcessTable",
    "netstack": "services.netstack.actor:Netstack",
    "vfs": "services.vfs.actor:VirtualFilesystem",
}


@pytest.mark.parametrize("name", list(OUR_ACTORS))
def test_our_actors_offer_exactly_their_contracts_operations(name: str) -> None:
    contract = service_contract(name)
    assert issubclass(contract, Contract) and contract.service == name
    actor = OUR_ACTORS[name]
    module, _, attribute = actor.partition(":")
    actor_class = getattr(importlib.import_module(module), attribute)
    assert actor_class.contract is contract
    assert actor_class.operations == contract.operations  # a new operation goes into the contract first
    assert not [op for op in actor_class.operations if is_abstract(getattr(actor_class, op))]
    for op in contract.operations:
        assert getattr(contract, op).__doc__, f"{name}.{op} has no docstring in its contract"


def test_every_service_has_a_default_factory_and_something_to_be_checked_against() -> None:
    assert list(DEFAULT_SERVICES) == ["mm", "signals", "gofer", "proc", "netstack", "vfs", "ipc"]
    assert set(SERVICE_CONTRACTS) == set(DEFAULT_SERVICES)
    for name, factory in DEFAULT_SERVICES.items():
        assert factory.__name__ == f"default_{name}" and factory.__doc__
        assert service_contract(name).operations


def test_check_actor_accepts_an_actor_keeping_the_contract() -> None:
    check_actor(Counter(), CounterContract)
    check_actor(Doubling(Counter()), CounterContract)


@pytest.mark.parametrize(("actor", "message"), [
    (object(), "builtins.object is not a kernel.bus.Actor"),
    (HalfCounter(), "lacks operations of CounterContract: total"),
    (Delegating(HalfCounter()), "lacks operations of CounterContract: total"),
])
def test_check_actor_names_what_is_wrong(actor: object, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        check_actor(actor, CounterContract)


def test_check_actor_refuses_an_operation_left_abstract() -> None:
    class Lazy(CounterContract):
        @operation
        async def add(self, amount: int) -> int:
            return amount

    class Wrapping(Delegating, CounterContract):
        pass

    with pytest.raises(ContractError, match=r"does not implement total \(still CounterContract's declaration\)"):
        check_actor(Lazy(), CounterContract)
    check_actor(Wrapping(Counter()), CounterContract)  # the wrapper forwards what it leaves abstract
    with pytest.raises(ContractError, match="does not implement total"):
        check_actor(Wrapping(HalfCounter()), CounterContract)  # but its inner actor lacks it


# --- the delegating base ----------------------------------------------------------------------------


async def test_a_wrapper_overrides_one_operation_and_forwards_the_rest() -> None:
    inner = Counter()
    bus = Bus()
    bus.register(Doubling(inner), "counter")
    assert await bus.call("counter", "add", 3) == 6
    assert await bus.call("counter", "total") == 6
    await bus.call("counter", "reset")
    assert inner.value == 0
    with pytest.raises(Errno) as failure:
        await bus.call("counter", "add", -1)
    assert failure.value.errno == EINVAL
    with pytest.raises(Errno) as failure:
        await bus.call("counter", "nope")
    assert failure.value.errno == ENOSYS


def test_forwarding_without_a_hook_binds_the_inner_actors_handlers() -> None:
    inner = Counter()
    bus = Bus()
    route = bus.register(Doubling(inner), "counter")
    assert route.handlers["total"] == inner.total  # no wrapper frame on the call path
    assert route.handlers["add"] != inner.add


async def test_the_forward_hook_sees_every_forwarded_operation_of_nested_wrappers() -> None:
    inner = Counter()
    recording = Recording(Doubling(inner))
    bus = Bus()
    bus.register(recording, "counter")
    await bus.call("counter", "add", 1)
    await bus.call("counter", "total")
    await bus.call("counter", "reset")
    assert recording.seen == ["add", "total", "reset"]
    assert inner.value == 0 and inner.closed is False


async def test_a_wrapper_serves_and_closes_its_inner_actor() -> None:
    inner = Counter()
    wrapper = Doubling(inner)
    async with trio.open_nursery() as nursery:
        await nursery.start(wrapper.serve)
    await wrapper.close()
    assert inner.served and inner.closed


# --- --service at boot ------------------------------------------------------------------------------


BOOT_ERRORS = [
    ("mmm=services.mm.actor:MemoryManager", "sentrio: --service mmm=services.mm.actor:MemoryManager: "
                                            "no service named 'mmm' "
                                            "(services: mm, signals, gofer, proc, netstack, vfs, ipc)"),
    ("mm=no.such.module:Factory", "sentrio: cannot load no.such.module:Factory: No module named 'no'"),
    ("mm=broken_module:factory", "sentrio: cannot load broken_module:factory: RuntimeError: this module is broken"),
    ("mm=tests.contracts.replacements:nope", "sentrio: cannot load tests.contracts.replacements:nope: module "),
    ("mm=tests.contracts.replacements:NOT_CALLABLE",
     "sentrio: cannot load tests.contracts.replacements:NOT_CALLABLE: int object is not callable"),
    ("mm=tests.contracts.replacements:failing", "sentrio: --service mm=tests.contracts.replacements:failing: "
                                                "the factory failed: KeyError: 'no such setting'"),
    ("mm=tests.contracts.replacements:not_an_actor", "sentrio: --service mm=tests.contracts.replacements:not_an_actor: "
                                                     "builtins.dict is not a kernel.bus.Actor"),
    ("mm=tests.contracts.replacements:half_an_mm", "sentrio: --service mm=tests.contracts.replacements:half_an_mm: "
     "tests.contracts.replacements.HalfAnMM lacks operations of MemoryContract: brk, copy_in, copy_out, create, "),
    ("mm=tests.contracts.replacements:forgetful_mm",
     "sentrio: --service mm=tests.contracts.replacements:forgetful_mm: tests.contracts.replacements.ForgetfulMM "
     "does not implement copy_in, copy_out, create, "),
    ("mm=tests.contracts.replacements:signals_as_mm",
     "sentrio: --service mm=tests.contracts.replacements:signals_as_mm: services.signals.actor.SignalsActor lacks "
     "operations of MemoryContract: "),
]


@pytest.mark.parametrize(("service", "message"), BOOT_ERRORS, ids=[s for s, _ in BOOT_ERRORS])
def test_a_replacement_that_cannot_serve_stops_the_boot_in_one_line(
        busybox: Path, tmp_path: Path, service: str, message: str) -> None:
    (tmp_path / "broken_module.py").write_text('raise RuntimeError("this module is broken")\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))  # sentrio() puts the tree first
    result = sentrio("run", "--service", service, str(busybox), "--", "sh", "-c", "echo ran", env=env)
    assert (result.returncode, result.stdout) == (125, ""), result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_replacement_keeping_the_contract_boots(busybox: Path) -> None:
    result = sentrio("run", "--service", "signals=kernel.kernel:default_signals", str(busybox), "--",
                     "sh", "-c", "trap 'echo caught' USR1; kill -USR1 $$; echo done")
    assert (result.returncode, result.stdout, result.stderr) == (0, "caught\ndone\n", "")
