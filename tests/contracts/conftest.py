"""The conformance suites' harness: a sandbox without a guest, whose services a test calls
through the bus, as the kernel would.

Each ``test_<service>.py`` module is one service's contract suite. It sets ``SERVICES``, the
services whose actors it needs running (``("mm", "signals")`` for the signals suite, since
futexes ask the MM), and takes the ``sandbox`` fixture: a real :class:`kernel.kernel.Kernel`
(the ptrace platform, the memory file, every actor registered on the bus) in which only those
actors are started. Tests call operations with ``sandbox.call(service, op, *args)`` and check
replies and errnos, never an actor's internals, so any replacement can be held to them::

    python -m pytest tests/contracts --service mm=mypkg.mm:Factory

Without ``--service`` our own actors are tested; with it, only the service suites run (every
one of them: a replacement MM must keep the signals suite's futexes working too). ``Factory``
has the signature the kernel's ``--service`` flag expects, ``Factory(kernel) -> Actor``; the
kernel checks the actor against the service's contract as it builds the sandbox (as it does at
boot), so a replacement that lacks an operation fails every test with the reason. To add a suite for a service, write
``test_<service>.py`` with its ``SERVICES`` and tests on ``sandbox``.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from abi.errno import Errno
from kernel.bus import Actor
from kernel.kernel import DEFAULT_SERVICES, Kernel, KernelConfig, ServiceError


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--service", action="append", default=[], metavar="NAME=module:Factory",
                     help="hold the actor Factory(kernel) returns to service NAME's contract suite "
                          "instead of ours (repeatable)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--service``, only the services' suites run: the other modules here test our own
    machinery and examples, not the replacement."""
    if not config.getoption("service", default=[]):
        return
    here = Path(__file__).parent
    suites = {here / f"test_{name}.py" for name in DEFAULT_SERVICES}
    kept = [item for item in items if item.path.parent != here or item.path in suites]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    services = config.getoption("service", default=[]) or []
    return f"contract suites hold to their contracts: {', '.join(services) if services else 'our actors'}"


@pytest.fixture(scope="session")
def replacements(pytestconfig: pytest.Config) -> dict[str, Callable[[Kernel], Actor]]:
    """``--service NAME=module:Factory`` options -> the factories to test instead of ours."""
    factories: dict[str, Callable[[Kernel], Actor]] = {}
    for text in pytestconfig.getoption("service", default=[]) or []:
        name, _, target = text.partition("=")
        module, _, attribute = target.partition(":")
        if name not in DEFAULT_SERVICES or not module or not attribute:
            raise pytest.UsageError(f"--service {text}: expected NAME=module:Factory with NAME one of "
                                    f"{', '.join(DEFAULT_SERVICES)}")
        factories[name] = getattr(importlib.import_module(module), attribute)
    return factories


REPO = Path(__file__).resolve().parents[2]


def sentrio(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m kernel ARGS`` from this tree, output captured as text."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "kernel", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox image (``image build busybox``); skips without root or busybox-static."""
    from kernel.images.build import HOST_BUSYBOX, build_busybox

    if os.geteuid() != 0:
        pytest.skip("Sentrio runs guests under ptrace, as root")
    if not HOST_BUSYBOX.is_file():
        pytest.skip("needs busybox-static (bash scripts/setup.sh)")
    root = tmp_path_factory.mktemp("busybox")
    build_busybox(root)
    return root


class Sandbox:
    """A kernel with no guest: its bus, and the actors a suite needs, running."""

    def __init__(self, kernel: Kernel, workdir: Path) -> None:
        self.kernel = kernel
        self.bus = kernel.bus
        #: A directory for host files the test maps or serves.
        self.workdir = workdir

    async def call(self, service: str, op: str, *args: Any) -> Any:
        """Send ``op(*args)`` to ``service`` through the bus, as a system call handler does."""
        return await self.bus.call(service, op, *args)

    async def errno(self, service: str, op: str, *args: Any) -> int:
        """The errno ``op(*args)`` fails with; the test fails if it succeeds."""
        try:
            reply = await self.bus.call(service, op, *args)
        except Errno as error:
            return error.errno
        raise AssertionError(f"{service}.{op}{args} succeeded with {reply!r}; an errno was expected")


@contextmanager
def _sigchld_mask_restored() -> Iterator[None]:
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the platform blocks SIGCHLD
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _unpinned_platform(memfile: Any, config: KernelConfig) -> Any:
    from platforms.ptrace.platform import PtracePlatform

    return PtracePlatform(memfile.fd, pin_cpus=False)  # the test process must keep every CPU


OpenSandbox = Callable[..., Any]


@pytest.fixture
def open_sandbox(request: pytest.FixtureRequest, replacements: dict[str, Callable[[Kernel], Actor]],
                 tmp_path: Path) -> OpenSandbox:
    """``async with open_sandbox(memory_limit=..., image=...) as sandbox``: a sandbox with its own
    configuration; the image is an empty directory unless given (a VFS suite passes its own)."""
    if os.geteuid() != 0:
        pytest.skip("the platform runs stubs under ptrace, as root")
    services = getattr(request.module, "SERVICES", ())

    @asynccontextmanager
    async def open_(memory_limit: int | None = None, image: Path | None = None) -> AsyncIterator[Sandbox]:
        if image is None:
            image = tmp_path / "image"
            image.mkdir(exist_ok=True)
        config = KernelConfig(image=str(image), argv=[b"/bin/true"], env=[], memory_limit=memory_limit,
                              services=dict(replacements), strict=True)
        with _sigchld_mask_restored():
            try:
                kernel = Kernel(config, _unpinned_platform)
            except ServiceError as error:  # the replacement cannot serve at all: say why, once per test
                pytest.fail(str(error), pytrace=False)
            started: list[Actor] = []
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(kernel.platform.serve)
                    for name, actor in kernel.bus.actors():
                        if name in services:
                            await nursery.start(actor.serve)
                            started.append(actor)
                    yield Sandbox(kernel, tmp_path)
                    nursery.cancel_scope.cancel()
            finally:
                with trio.CancelScope(shield=True):
                    for actor in started:
                        await actor.close()
                kernel.platform.close()
                kernel.memfile.close()

    return open_


@pytest.fixture
async def sandbox(open_sandbox: OpenSandbox) -> AsyncIterator[Sandbox]:
    """A sandbox with the default configuration (no memory limit)."""
    async with open_sandbox() as box:
        yield box
