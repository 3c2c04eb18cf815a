"""The system call table: number -> handler, with hooks for researchers.

Handlers are plain ``async def`` functions registered with :func:`syscall`; they take the
calling :class:`~kernel.task.Task` and the decoded arguments, and return the result or raise
:class:`~abi.errno.Errno`. A number without a handler returns ``-ENOSYS`` and is counted.

Researchers (in the manner of Qiling) can, per system call name or number, or for all of them:

* :meth:`SyscallTable.replace` the handler (a "CALL" hook);
* :meth:`SyscallTable.on_enter`: see the arguments first, and optionally answer the call
  without running the handler by setting ``call.result``;
* :meth:`SyscallTable.on_exit`: see (and optionally change) ``call.result``.

Hooks cost nothing for system calls that have none.
"""

from __future__ import annotations

import inspect
import logging
import typing
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from abi import syscalls as numbers
from abi.errno import EIO, ENOSYS
from abi.errno import Errno
from kernel.syscalls.args import Decoder

if TYPE_CHECKING:
    from kernel.task import Task

Handler = Callable[..., Awaitable[int]]
Hook = Callable[["Task", "Call"], Awaitable[None]]

log = logging.getLogger("sentrio.syscalls")

#: Every handler defined with @syscall, by system call name.
REGISTRY: dict[str, Handler] = {}
_ARG_REGISTERS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")


def syscall(name_or_handler: str | Handler) -> Any:
    """Register an ``async def`` as the handler of the system call it is named after.

    ``@syscall`` uses the function's name; ``@syscall("exit")`` names it explicitly.
    """
    def register(handler: Handler, name: str) -> Handler:
        if name not in numbers.NUMBERS:
            raise ValueError(f"x86-64 has no system call named {name!r}")
        if name in REGISTRY:
            raise ValueError(f"two handlers for {name}")
        REGISTRY[name] = handler
        return handler

    if isinstance(name_or_handler, str):
        return lambda handler: register(handler, name_or_handler)
    return register(name_or_handler, name_or_handler.__name__)


class Call:
    """One system call as hooks see it; made only when a hook is installed."""

    __slots__ = ("nr", "name", "args", "result")

    def __init__(self, nr: int, name: str, args: tuple[Any, ...]) -> None:
        self.nr = nr
        self.name = name
        self.args = args
        #: Set by an enter hook to answer the call without its handler; the result after it ran.
        self.result: int | None = None


class Entry:
    """A system call's handler, argument decoder and hooks.

    The decoder is compiled from the handler's signature on the call's first use, not when the
    table is built: reading ~240 handlers' type hints cost ~20 ms of every Sentry's start-up,
    for calls most programs never make. ``decode`` starts as :meth:`_first_decode`, which
    compiles the real decoder, puts it in its place and decodes; later calls go straight to it.
    Decoders are kept per handler function, for every table of the process: a zygote compiles
    them all once (:func:`compile_decoders`), and the runs it forks compile none.
    """

    __slots__ = ("nr", "name", "handler", "decode", "enter_hooks", "exit_hooks")

    def __init__(self, nr: int, name: str, handler: Handler) -> None:
        self.nr = nr
        self.name = name
        self.enter_hooks: list[Hook] = []
        self.exit_hooks: list[Hook] = []
        self.set_handler(handler)

    def set_handler(self, handler: Handler) -> None:
        code = getattr(handler, "__code__", None)  # the cheap check stays early
        if code is not None and code.co_argcount - 1 > len(_ARG_REGISTERS):
            raise TypeError(f"{handler.__qualname__} takes more than six system call arguments")
        self.handler = handler
        self.decode: Callable[[Any], tuple[Any, ...]] = self._first_decode

    @property
    def params(self) -> list[tuple[str, Decoder | None]]:
        """The handler's guest-visible parameters and their decoders."""
        return _compiled(self.handler)[0]

    def _first_decode(self, regs: Any) -> tuple[Any, ...]:
        self.decode = _compiled(self.handler)[1]
        return self.decode(regs)


_Params = list[tuple[str, Decoder | None]]
_Decode = Callable[[Any], tuple[Any, ...]]
#: Each handler's parameters and compiled decoder, once per process (see :class:`Entry`).
_COMPILED: weakref.WeakKeyDictionary[Handler, tuple[_Params, _Decode]] = weakref.WeakKeyDictionary()


def _compiled(handler: Handler) -> tuple[_Params, _Decode]:
    compiled = _COMPILED.get(handler)
    if compiled is None:
        params = _parameters(handler)
        compiled = _COMPILED[handler] = (params, _make_decoder(params))
    return compiled


def compile_decoders() -> None:
    """Compile the decoder of every registered handler now (a zygote, before it forks runs)."""
    for handler in REGISTRY.values():
        _compiled(handler)


class _TypeCheckingNames(dict):  # type: ignore[type-arg]
    """A handler's module globals, with names imported only for type checkers (``Task``)
    resolving to a placeholder instead of failing."""

    def __init__(self, module_globals: dict[str, Any]) -> None:
        super().__init__()
        self._globals = module_globals

    def __missing__(self, key: str) -> object:
        return self._globals.get(key, object)


def _parameters(handler: Handler) -> list[tuple[str, Decoder | None]]:
    """The handler's guest-visible parameters (all but the task) with their decoders."""
    names = _TypeCheckingNames(getattr(handler, "__globals__", {}))
    hints = typing.get_type_hints(handler, localns=names, include_extras=True)
    params = list(inspect.signature(handler).parameters)[1:]
    if len(params) > len(_ARG_REGISTERS):
        raise TypeError(f"{handler.__qualname__} takes more than six system call arguments")
    result = []
    for name in params:
        decoder = None
        for meta in getattr(hints.get(name), "__metadata__", ()):
            if isinstance(meta, Decoder):
                decoder = meta
        result.append((name, decoder))
    return result


def _make_decoder(params: list[tuple[str, Decoder | None]]) -> Callable[[Any], tuple[Any, ...]]:
    """Compile ``regs -> args``: one tuple expression, no loop on the hot path."""
    namespace: dict[str, Any] = {}
    parts = []
    for index, (_, decoder) in enumerate(params):
        register = f"r.{_ARG_REGISTERS[index]}"
        if decoder is not None and decoder.convert is not None:
            namespace[f"c{index}"] = decoder.convert
            parts.append(f"c{index}({register})")
        else:
            parts.append(register)
    source = f"lambda r: ({', '.join(parts)}{',' if parts else ''})"
    return eval(source, namespace)  # noqa: S307 — built from fixed register names only


class SyscallTable:
    """Dispatches trapped system calls to handlers; see the module docstring.

    A handler that raises anything but :class:`Errno` has hit a Sentry bug: the traceback goes
    to the log and the call fails with EIO, so the guest never sees a Python traceback and the
    sandbox stays up. With ``strict`` (tests) the bug propagates instead.
    """

    def __init__(self, handlers: dict[str, Handler] | None = None, strict: bool = False) -> None:
        self.strict = strict
        self._entries: list[Entry | None] = [None] * numbers.COUNT
        for name, handler in (REGISTRY if handlers is None else handlers).items():
            nr = numbers.NUMBERS[name]
            self._entries[nr] = Entry(nr, name, handler)
        self._all_enter: list[Hook] = []
        self._all_exit: list[Hook] = []
        #: How often each unsupported system call number was attempted.
        self.unsupported: Counter[int] = Counter()

    # --- the researcher's API --------------------------------------------------------------

    def entry(self, syscall: str | int) -> Entry | None:
        return self._entries[self._number(syscall)]

    def supported(self) -> list[str]:
        return sorted(e.name for e in self._entries if e is not None)

    def replace(self, syscall: str | int, handler: Handler) -> None:
        """Serve ``syscall`` with ``handler`` from now on (it may call the old one)."""
        nr = self._number(syscall)
        entry = self._entries[nr]
        if entry is None:
            self._entries[nr] = Entry(nr, numbers.NAMES[nr], handler)
        else:
            entry.set_handler(handler)

    def on_enter(self, syscall: str | int | None, hook: Hook) -> None:
        """Run ``hook(task, call)`` before the handler of ``syscall`` (None: of every call)."""
        self._hooks(syscall, "enter").append(hook)

    def on_exit(self, syscall: str | int | None, hook: Hook) -> None:
        """Run ``hook(task, call)`` after the handler of ``syscall`` (None: of every call)."""
        self._hooks(syscall, "exit").append(hook)

    def _hooks(self, syscall: str | int | None, when: str) -> list[Hook]:
        if syscall is None:
            return self._all_enter if when == "enter" else self._all_exit
        nr = self._number(syscall)
        entry = self._entries[nr]
        if entry is None:
            entry = self._entries[nr] = Entry(nr, numbers.NAMES[nr], _unsupported)
        return entry.enter_hooks if when == "enter" else entry.exit_hooks

    @staticmethod
    def _number(syscall: str | int) -> int:
        if isinstance(syscall, int):
            if not 0 <= syscall < numbers.COUNT:
                raise ValueError(f"no x86-64 system call number {syscall}")
            return syscall
        return numbers.NUMBERS[syscall]

    # --- dispatch ------------------------------------------------------------------------------

    async def dispatch(self, task: Task, nr: int) -> int:
        """Serve system call ``nr`` for ``task`` (its arguments are in ``task.regs``)."""
        entry = self._entries[nr] if 0 <= nr < numbers.COUNT else None
        if entry is None:
            self.unsupported[nr] += 1
            if self._all_enter or self._all_exit:
                regs = task.regs
                raw = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
                return await self._hooked(task, nr, numbers.NAMES.get(nr, str(nr)), None, raw)
            return -ENOSYS
        args = entry.decode(task.regs)
        if entry.enter_hooks or entry.exit_hooks or self._all_enter or self._all_exit:
            return await self._hooked(task, nr, entry.name, entry, args)
        try:
            return await entry.handler(task, *args)
        except Errno as error:
            return -error.errno
        except Exception as error:
            return self._handler_crashed(entry.name, args, error)

    def _handler_crashed(self, name: str, args: tuple[Any, ...], error: Exception) -> int:
        if self.strict:
            raise error
        log.error("Sentry bug in %s%r: %s; the call fails with EIO", name, args, error, exc_info=error)
        return -EIO

    async def _hooked(self, task: Task, nr: int, name: str, entry: Entry | None, args: tuple[Any, ...]) -> int:
        call = Call(nr, name, args)
        enter = self._all_enter + (entry.enter_hooks if entry else [])
        for hook in enter:
            await hook(task, call)
        exit_hooks = (entry.exit_hooks if entry else []) + self._all_exit
        if call.result is None:
            if entry is None:
                call.result = -ENOSYS
            else:
                try:
                    call.result = await entry.handler(task, *args)
                except Errno as error:
                    call.result = -error.errno
                except Exception as error:
                    call.result = self._handler_crashed(name, args, error)
                except BaseException:
                    # The call never returns (exit, exit_group): exit hooks see result None.
                    for hook in exit_hooks:
                        await hook(task, call)
                    raise
        for hook in exit_hooks:
            await hook(task, call)
        return call.result


async def _unsupported(task: Task, *args: Any) -> int:
    """Stands in for a call that has hooks but no handler."""
    raise Errno(ENOSYS)
