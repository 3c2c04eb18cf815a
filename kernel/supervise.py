"""Supervision: what a crashed actor means, per actor, as Erlang/OTP's supervisors decide it.

An actor *crashes* when one of its operations raises something other than
:class:`~abi.errno.Errno` (a bug, or an injected ``crash``). Without a policy the bus's default
(:class:`kernel.bus.FailCallSupervisor`) fails that call with EIO and keeps the actor. With a
:class:`Policy` for its service, :class:`RestartingSupervisor` does what OTP's ``one_for_one``
strategy does: the crashed actor alone is replaced by a fresh one from its factory, unless it
has crashed more than ``intensity`` times within ``period`` seconds — then the supervisor gives
up and *escalates*: the sandbox is ended (every process killed, as a kernel panic would), since
above it there is no supervisor to restart the whole kernel.

On a restart:

* the call that crashed, and every other call still inside the old actor (*in flight*), fail
  with the policy's ``errno`` (EIO unless said otherwise); the guest sees an I/O error;
* the new actor is made by the same factory (ours, or the ``--service`` replacement) and takes
  over the service's route once its :meth:`~kernel.bus.Actor.serve` is ready; calls made until
  then wait for it and go to it (they do not fail: whether a later, unrelated call came before
  the new actor was ready is a matter of scheduling, which must not decide what a guest sees;
  once the supervisor gives up, they fail with the policy's errno);
* its state is rebuilt where it can be (see :data:`REBUILDERS`) and lost where it cannot:

  ========  ===============================================================================
  proc      everything: it is a view of the kernel's process table, rebuilt on each call.
  gofer     everything: the new proxy adopts the old one's gofer connections and processes
            (host resources an actor's bug does not break).
  signals   nothing: handlers, masks, pending signals and futex waiters are lost; processes
            it does not know fail their signal calls (ESRCH), so most guests end.
  mm        nothing: address spaces are lost; every process's next memory access fails.
  vfs       nothing: the mount tree and open files are lost (a new VFS cannot mount the image
            again: a confined Sentry cannot start a gofer); every file call then fails.
  ========  ===============================================================================

A *gofer process* that dies is not an actor crash: its connection fails every call in flight
with EIO. With ``[supervise.gofer] restarts = N`` the proxy's connections keep N spare gofers,
started with the first (a confined Sentry cannot start a process later), and a dead gofer's
connection moves to a spare, attaching the mount's root again, so new opens work.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from abi.errno import EIO, ENOSYS, Errno
from abi.linux import Signal, signal_status
from kernel.bus import Actor, Bus, Message, Proceed, Route

if TYPE_CHECKING:
    from kernel.kernel import Kernel

log = logging.getLogger("sentrio.supervise")


@dataclass(frozen=True)
class Policy:
    """How one service's actor is supervised (OTP's child spec and restart intensity)."""

    service: str
    #: ``one_for_one``: restart the crashed actor alone (the only strategy: our actors do not
    #: depend on each other's state in a way a joint restart would repair).
    strategy: str = "one_for_one"
    #: At most this many restarts within ``period`` seconds; one more and the supervisor gives up.
    intensity: int = 3
    period: float = 5.0
    #: What the crashed call and the calls in flight fail with.
    errno: int = EIO
    #: For the gofer service: spare gofer processes to reconnect to when one dies.
    restarts: int = 0


def _rebuild_gofer(old: Actor, new: Actor) -> None:
    for name in ("_connections", "_processes", "_donating"):
        if hasattr(old, name) and hasattr(new, name):
            setattr(new, name, getattr(old, name))
            setattr(old, name, {})  # closed by the new actor, not twice


#: Per service: carry what can be carried from the crashed actor to its replacement.
REBUILDERS: dict[str, Callable[[Actor, Actor], None]] = {"gofer": _rebuild_gofer}


class _Down(Actor):
    """Stands in for a service after a crash. While its replacement starts (``ready`` not yet
    set) a call waits for it and then goes to whatever the route is bound to (the new actor);
    once the supervisor gave up, or with no replacement coming, a call fails with the errno."""

    def __init__(self, route: Route, errno: int, replacing: bool) -> None:
        self.route = route
        self.errno = errno
        #: Set when the replacement is bound (or will never be): waiting calls go on.
        self.ready: trio.Event | None = trio.Event() if replacing else None

    def handlers(self) -> dict[str, Any]:
        return _WaitingHandlers(self)

    def release_waiters(self) -> None:
        """The replacement is bound, or will never be: waiting calls go on to the route."""
        if self.ready is not None:
            self.ready.set()


class _WaitingHandlers(dict):  # type: ignore[type-arg]
    """Every operation name maps to a handler that waits for the replacement, or fails."""

    def __init__(self, down: _Down) -> None:
        super().__init__()
        self._down = down

    def get(self, key: Any, default: Any = None) -> Any:
        down = self._down

        async def handler(*args: Any) -> Any:
            if down.ready is None:
                raise Errno(down.errno)
            await down.ready.wait()
            target = down.route.handlers.get(key)
            if target is None:
                raise Errno(ENOSYS)
            return await target(*args)

        return handler


class RestartingSupervisor:
    """The bus's supervisor with per-service policies; also an interceptor that knows which
    calls are in flight in each supervised actor, so a restart can fail them."""

    def __init__(self, kernel: Kernel, policies: dict[str, Policy], strict: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kernel = kernel
        self.policies = policies
        self.strict = strict
        self.crashes = 0
        self.restarts: dict[str, int] = {}
        self.gave_up: str | None = None
        self._clock = clock
        self._history: dict[str, deque[float]] = {}
        self._in_flight: dict[str, set[trio.CancelScope]] = {name: set() for name in policies}

    def install(self, bus: Bus) -> None:
        bus.supervisor = self
        bus.add_interceptor(self)

    async def __call__(self, message: Message, proceed: Proceed) -> Any:
        calls = self._in_flight.get(message.service)
        if calls is None:
            return await proceed(message)
        with trio.CancelScope() as scope:
            calls.add(scope)
            try:
                return await proceed(message)
            finally:
                calls.discard(scope)
        raise Errno(self.policies[message.service].errno)  # its actor was restarted under it

    def actor_crashed(self, route: Route, message: Message, error: BaseException) -> Any:
        self.crashes += 1
        policy = self.policies.get(route.name)
        log.error("actor %s crashed in %s%r", route.name, message.op, message.args, exc_info=error)
        if policy is None:
            if self.strict:
                raise error
            raise Errno(EIO) from error
        if isinstance(route.actor, _Down):
            raise Errno(policy.errno) from error
        now = self._clock()
        history = self._history.setdefault(route.name, deque())
        while history and now - history[0] > policy.period:
            history.popleft()
        if len(history) >= policy.intensity:
            self._give_up(route, policy)
        else:
            history.append(now)
            self._restart(route, policy)
        raise Errno(policy.errno) from error

    def _restart(self, route: Route, policy: Policy) -> None:
        old = route.actor
        self.restarts[route.name] = self.restarts.get(route.name, 0) + 1
        log.warning("supervisor: restarting %s (restart %d)", route.name, self.restarts[route.name])
        for scope in self._in_flight[route.name]:
            scope.cancel()
        down = _Down(route, policy.errno, replacing=True)
        route.bind(down)
        from kernel.kernel import DEFAULT_SERVICES

        factory = self.kernel.config.services.get(route.name) or DEFAULT_SERVICES[route.name]
        new = factory(self.kernel)
        rebuild = REBUILDERS.get(route.name)
        if rebuild is not None:
            rebuild(old, new)
        self.kernel.spawn(self._serve, route, new, down)

    @staticmethod
    async def _serve(route: Route, actor: Actor, down: _Down) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(actor.serve)
            if route.actor is down:  # (not if the supervisor gave up meanwhile)
                route.bind(actor)
            down.release_waiters()

    def _give_up(self, route: Route, policy: Policy) -> None:
        self.gave_up = route.name
        log.error("supervisor: %s crashed more than %d times in %gs: giving up, ending the sandbox",
                  route.name, policy.intensity, policy.period)
        waiting = route.actor
        route.bind(_Down(route, policy.errno, replacing=False))
        if isinstance(waiting, _Down):
            waiting.release_waiters()  # to the errno of the service down for good
        for process in list(self.kernel.processes.values()):
            self.kernel.spawn(process.exit, signal_status(Signal.SIGKILL))
