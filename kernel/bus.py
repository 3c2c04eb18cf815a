"""The bus: how tasks and actors reach service actors.

An *actor* owns a piece of kernel state (the memory manager, the VFS, ...) and is reached only
through the bus, by name, with request/reply *operations*: ``await bus.call("mm", "brk", asid, 0)``.
A failed operation raises :class:`~abi.errno.Errno`, exactly as a system call fails.

Delivery is a direct await of the actor's handler in the caller's trio task (0.1 µs, against
~10 µs for a channel hop to an actor task), so an actor's state is touched only by its own
handlers, and a handler must leave that state consistent at every ``await`` — it is written like
a monitor. Long-lived work (a gofer connection, timers) runs in the actor's own tasks, started
from :meth:`Actor.serve`.

Every call passes the bus's *interceptor chain* when it has one: tracing records each message,
fault injection delays or fails it, supervision decides what a crashing actor means. With an
empty chain a call costs one dict lookup and an await. The service name is resolved on every
call through a :class:`Route`, which is where ``--service NAME=module:Factory`` swaps an actor.

Swapping is made safe by three pieces here: a service's :class:`Contract` (every operation, its
arguments, reply and errnos, in ``services/<name>/contract.py``), :func:`check_actor`, which the
kernel runs on every replacement at boot, and :class:`Delegating`, the base of a wrapper that
changes one operation of an actor and forwards the rest.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import trio

from abi.errno import EIO, EMFILE, ENFILE, ENOMEM, ENOSPC, ENOSYS
from abi.errno import Errno

log = logging.getLogger("sentrio.bus")

#: Who is calling: set by each guest task ("task 3") and actor task, read by interceptors.
current_caller: contextvars.ContextVar[str] = contextvars.ContextVar("current_caller", default="kernel")
#: The system call being served, when something numbers them (a ``kernel.strace.SyscallSpan``).
current_syscall: contextvars.ContextVar[Any] = contextvars.ContextVar("current_syscall", default=None)
#: The bus message being served, when a trace follows them (its ``seq``): a message sent now is its child.
current_message: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_message", default=None)


#: Where the guest's random bytes come from (getrandom, /dev/urandom): the host, or in a
#: deterministic run a stream seeded by the seed (``kernel.determinism`` sets it). Here, on
#: the bus, because services (the VFS's /dev/urandom) may import nothing else of the kernel.
_entropy: Callable[[int], bytes] = os.urandom


def random_bytes(length: int) -> bytes:
    """``length`` random bytes for the guest, from the run's entropy source."""
    return _entropy(length)


def set_entropy(source: Callable[[int], bytes] | None) -> None:
    """Make ``source`` the guest's entropy (None: the host's urandom again)."""
    global _entropy
    _entropy = source if source is not None else os.urandom


async def kernel_work(function: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run ``await function(*args)`` as the kernel's own work (a timer, an exit the kernel
    decides): trio gives a new task a copy of its spawner's context, which would otherwise
    name the guest thread that armed a timer as its caller, inside the call that armed it."""
    current_caller.set("kernel")
    current_syscall.set(None)
    current_message.set(None)
    await function(*args)


#: An operation's handler: an ``async def`` taking the message's arguments.
Handler = Callable[..., Awaitable[Any]]
_Method = TypeVar("_Method", bound=Handler)


def operation(method: _Method) -> _Method:
    """Mark an ``async def`` method of an :class:`Actor` as an operation callers may send.

    The method keeps its signature, so a type checker compares an actor's operations with the
    contract's they override.
    """
    method.__bus_operation__ = True  # type: ignore[attr-defined]
    return method


def is_abstract(handler: object) -> bool:
    """Whether ``handler`` (a function or bound method) is still a contract's declaration."""
    function = getattr(handler, "__func__", handler)
    return bool(getattr(function, "__contract_abstract__", False))


class Actor:
    """Base class of service actors.

    Subclasses set ``service`` (the default name they register under) and mark their
    operations with :func:`operation`; the operation's name is the method's name. An actor that
    subclasses a :class:`Contract` offers the contract's operations and overrides each of them.
    """

    service: ClassVar[str] = ""
    #: The names of the class's operations (its own and its bases').
    operations: ClassVar[frozenset[str]] = frozenset()
    #: The contract the class implements, if it subclasses one.
    contract: ClassVar[type[Contract] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ops = set()
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if getattr(value, "__bus_operation__", False):
                    ops.add(name)
        cls.operations = frozenset(ops)

    def handlers(self) -> dict[str, Handler]:
        """Operation name -> the callable that serves it; the bus binds these at registration.

        By default the actor's own methods for its class's operations (an instance attribute of
        the same name takes precedence); :class:`Delegating` adds the inner actor's.
        """
        return {op: getattr(self, op) for op in type(self).operations}

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the actor's long-lived tasks, if it has any; started with ``nursery.start``.

        An override calls ``task_status.started()`` once it is ready for operations. The
        default has nothing long-lived to run and is ready at once.
        """
        task_status.started()

    async def close(self) -> None:
        """Release host resources. Called once when the sandbox shuts down."""


class Contract(Actor):
    """A service's contract: every operation it offers, with typed arguments, reply and errnos.

    A contract lives in ``services/<name>/contract.py`` and subclasses this class directly; it
    sets ``service`` and declares each operation with :func:`operation`, a full signature and a
    docstring naming its errnos, and a body that raises :class:`NotImplementedError`. Our actor
    and any replacement subclass the contract and implement every operation. Replies carry
    handles and immutable values, never an object of the actor's own state.

    The operations a direct subclass declares are *abstract*: :func:`check_actor` refuses an
    actor that still has one, and :class:`Delegating` forwards them to its inner actor.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if Contract in cls.__bases__:  # the contract itself, not an actor implementing it
            cls.contract = cls
            for value in vars(cls).values():
                if getattr(value, "__bus_operation__", False):
                    value.__contract_abstract__ = True


class ContractError(Exception):
    """An actor does not keep its service's contract (see :func:`check_actor`)."""


def check_actor(actor: object, contract: type[Actor]) -> None:
    """Raise :class:`ContractError` unless ``actor`` can serve ``contract``'s operations.

    ``actor`` must be an :class:`Actor` whose handlers include every operation of ``contract``
    (a :class:`Contract`, or an actor class whose operation set stands for one), none of them
    still the contract's abstract declaration. Extra operations are allowed. The message is one
    line naming what is wrong.
    """
    if not isinstance(actor, Actor):
        raise ContractError(f"{_describe(actor)} is not a kernel.bus.Actor")
    handlers = actor.handlers()
    missing = sorted(op for op in contract.operations if op not in handlers)
    if missing:
        raise ContractError(f"{_describe(actor)} lacks operations of {contract.__name__}: {', '.join(missing)}")
    abstract = sorted(op for op in contract.operations if is_abstract(handlers[op]))
    if abstract:
        raise ContractError(f"{_describe(actor)} does not implement {', '.join(abstract)} "
                            f"(still {contract.__name__}'s declaration)")
    uncallable = sorted(op for op in contract.operations if not callable(handlers[op]))
    if uncallable:
        raise ContractError(f"{_describe(actor)} has {', '.join(uncallable)} that cannot be called")


def _describe(actor: object) -> str:
    kind = type(actor)
    return f"{kind.__module__}.{kind.__qualname__}"


class Delegating(Actor):
    """An actor that wraps an inner actor and forwards every operation to it.

    A wrapper subclasses this and overrides only what it changes: an operation it defines with
    :func:`operation` is its own (it may call ``self.inner``'s), and every other operation of
    the inner actor is forwarded, whatever the inner's operation set is. To see every forwarded
    message, override :meth:`forward`. When the wrapper also subclasses a :class:`Contract`,
    the contract's operations it leaves abstract are forwarded too, and :func:`check_actor`
    reports any the inner actor lacks.

    Forwarding costs nothing when :meth:`forward` is not overridden: the bus is handed the inner
    actor's own handlers. The wrapper registers under the name the kernel gives it; it serves
    and closes the inner actor with itself.
    """

    def __init__(self, inner: Actor) -> None:
        self.inner = inner
        self._inner_handlers: dict[str, Handler] | None = None

    def handlers(self) -> dict[str, Handler]:
        own = super().handlers()
        inner = self._inner_handlers = self.inner.handlers()
        hooked = type(self).forward is not Delegating.forward
        result: dict[str, Handler] = {}
        for op, handler in inner.items():
            if op not in own or is_abstract(own[op]):
                result[op] = functools.partial(self.forward, op) if hooked else handler
        for op, handler in own.items():
            result.setdefault(op, handler)
        return result

    async def forward(self, op: str, *args: Any) -> Any:
        """Deliver ``op(*args)`` to the inner actor: what every operation the wrapper does not
        define does. An override sees each of them (and must await this for the reply)."""
        if self._inner_handlers is None:
            self._inner_handlers = self.inner.handlers()
        return await self._inner_handlers[op](*args)

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the inner actor's long-lived tasks; ready when it is."""
        await self.inner.serve(task_status)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(slots=True)
class Message:
    """One request as interceptors see it."""

    service: str
    op: str
    args: tuple[Any, ...]
    caller: str
    seq: int
    #: Free-form annotations interceptors leave for each other (e.g. an injected fault).
    notes: dict[str, Any] = field(default_factory=dict)


Proceed = Callable[[Message], Awaitable[Any]]


class Interceptor(Protocol):
    """Sees every message on the bus: may record it, delay it, fail it or pass it on.

    ``await proceed(message)`` delivers the message to the next interceptor or, at the end of
    the chain, to the actor; its result (or its :class:`Errno`) is the reply.
    """

    async def __call__(self, message: Message, proceed: Proceed) -> Any: ...


class Supervisor(Protocol):
    """Decides what an actor's crash (an exception other than Errno) means for the caller."""

    def actor_crashed(self, route: Route, message: Message, error: BaseException) -> Any: ...


#: Host errors that say the host ran short, not that an actor is wrong: the Sentry's fds (every
#: pipe, socket and tmpfs file of the sandbox holds one), memory, the space of a host tmpfs. The
#: guest gets what Linux answers when the whole system runs out: ENFILE for file descriptions
#: (its own limit, EMFILE, it has not reached), ENOMEM, ENOSPC.
HOST_SHORTAGES = {EMFILE: ENFILE, ENFILE: ENFILE, ENOMEM: ENOMEM, ENOSPC: ENOSPC}
_shortages_logged: set[tuple[str, int]] = set()


def host_shortage(service: str, error: Exception) -> Errno | None:
    """The guest's errno for a host shortage ``error`` raised in ``service`` (logged once per
    service and errno), or None when ``error`` is something else: a bug."""
    if not isinstance(error, OSError) or error.errno not in HOST_SHORTAGES:
        return None
    if (service, error.errno) not in _shortages_logged:
        _shortages_logged.add((service, error.errno))
        log.warning("the host ran short in %s (%s): the guest gets %s", service, error,
                    os.strerror(HOST_SHORTAGES[error.errno]))
    return Errno(HOST_SHORTAGES[error.errno])


class FailCallSupervisor:
    """The default policy: log the crash with its traceback and fail the call with EIO.

    The guest sees an I/O error, never a Python traceback; the actor stays registered. Set
    ``strict`` (tests do) to re-raise instead, so a Sentry bug cannot hide behind an errno.
    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.crashes = 0

    def actor_crashed(self, route: Route, message: Message, error: BaseException) -> Any:
        self.crashes += 1
        log.error("actor %s crashed in %s%r", route.name, message.op, message.args, exc_info=error)
        if self.strict:
            raise error
        raise Errno(EIO) from error


class Route:
    """The current binding of a service name to an actor and its operation handlers."""

    __slots__ = ("name", "actor", "handlers")

    def __init__(self, name: str, actor: Actor) -> None:
        self.name = name
        self.bind(actor)

    def bind(self, actor: Actor) -> None:
        self.actor = actor
        self.handlers: dict[str, Handler] = actor.handlers()


class Bus:
    """Routes operations to actors by service name, through the interceptor chain."""

    def __init__(self, supervisor: Supervisor | None = None) -> None:
        self._routes: dict[str, Route] = {}
        self._interceptors: list[Interceptor] = []
        self._seq = itertools.count(1)
        self.supervisor: Supervisor = supervisor or FailCallSupervisor()

    # --- wiring -------------------------------------------------------------------------------

    def register(self, actor: Actor, name: str | None = None) -> Route:
        """Bind ``actor`` under ``name`` (default: its ``service``), replacing any previous one."""
        name = name or actor.service
        if not name:
            raise ValueError(f"{type(actor).__name__} has no service name")
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = Route(name, actor)
        else:
            route.bind(actor)
        return route

    def actor(self, name: str) -> Actor:
        return self._route(name).actor

    def actors(self) -> Iterable[tuple[str, Actor]]:
        return [(name, route.actor) for name, route in self._routes.items()]

    def add_interceptor(self, interceptor: Interceptor) -> None:
        """Append ``interceptor`` to the chain; the first added sees messages first."""
        self._interceptors.append(interceptor)

    def endpoint(self, name: str) -> Endpoint:
        """A handle for calling service ``name``; it follows the service through swaps."""
        return Endpoint(self, name)

    def route(self, name: str) -> Route:
        """The route of service ``name``; LookupError if none is registered."""
        return self._route(name)

    def _route(self, name: str) -> Route:
        try:
            return self._routes[name]
        except KeyError:
            raise LookupError(f"no actor is registered as {name!r}") from None

    # --- calls ----------------------------------------------------------------------------------

    async def call(self, service: str, op: str, *args: Any) -> Any:
        """Send ``op(*args)`` to ``service`` and return its reply; raises Errno on failure."""
        route = self._routes.get(service)
        if route is None:
            raise Errno(ENOSYS)
        if not self._interceptors:
            handler = route.handlers.get(op)
            if handler is None:
                raise Errno(ENOSYS)
            try:
                return await handler(*args)
            except Errno:
                raise
            except Exception as error:  # an actor bug (the supervisor decides), or the host ran short
                shortage = host_shortage(service, error)
                if shortage is not None:
                    raise shortage from error
                message = Message(service, op, args, current_caller.get(), next(self._seq))
                return self.supervisor.actor_crashed(route, message, error)
        message = Message(service, op, args, current_caller.get(), next(self._seq))
        return await self._proceed_at(0, route, message)

    async def _proceed_at(self, index: int, route: Route, message: Message) -> Any:
        if index < len(self._interceptors):
            async def proceed(msg: Message) -> Any:
                return await self._proceed_at(index + 1, route, msg)
            return await self._interceptors[index](message, proceed)
        handler = route.handlers.get(message.op)
        if handler is None:
            raise Errno(ENOSYS)
        try:
            return await handler(*message.args)
        except Errno:
            raise
        except Exception as error:
            shortage = host_shortage(message.service, error)
            if shortage is not None:
                raise shortage from error
            return self.supervisor.actor_crashed(route, message, error)


class Endpoint:
    """A service as seen by one caller: ``await endpoint.call("op", ...)``."""

    __slots__ = ("_bus", "name")

    def __init__(self, bus: Bus, name: str) -> None:
        self._bus = bus
        self.name = name

    async def call(self, op: str, *args: Any) -> Any:
        return await self._bus.call(self.name, op, *args)

    @property
    def actor(self) -> Actor:
        return self._bus.actor(self.name)


def call_now(bus: Bus, service: str, op: str, *args: Any) -> None:
    """Make a bus call from synchronous code, for an operation that never waits (a
    description's release, an SCM_RIGHTS reference dropped): its reply is not wanted.

    The call's coroutine is stepped once: without a waiting interceptor it finishes at once.
    If an interceptor makes it wait (a fault rule's delay), it is abandoned and sent again
    from a system task, which delivers it a moment later. A failure is logged, not raised.
    """
    call: Coroutine[Any, Any, Any] = bus.call(service, op, *args)
    try:
        call.send(None)
    except StopIteration:
        return
    except Errno as error:
        log.debug("%s.%s%r failed with errno %d", service, op, args, error.errno)
        return
    call.close()
    trio.lowlevel.spawn_system_task(_call_later, bus, service, op, args)


async def _call_later(bus: Bus, service: str, op: str, args: tuple[Any, ...]) -> None:
    try:
        await bus.call(service, op, *args)
    except Errno as error:
        log.debug("%s.%s%r failed with errno %d", service, op, args, error.errno)
