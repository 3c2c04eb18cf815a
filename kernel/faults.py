"""Fault injection on the bus, reproducible from a seed.

A :class:`FaultInjector` is a bus interceptor holding :class:`Rule` s. A rule picks messages by
service and operation (shell-style patterns), by what the message is about and who sent it,
decides with its own seeded random stream whether this message is hit, and then acts:

``fail=ERRNO``    the call fails with that errno (``fail=EIO``), the actor never sees it;
``short[=N]``     a short read or write: the actor is asked for at most N bytes (default: half
                  of what the caller asked, at least 1), as a disk or pipe may give;
``delay=TIME``    the message is held for TIME (``5ms``, ``0.2s``) and then delivered;
``drop[=TIME]``   the message is lost: the caller waits TIME (default 1s), as for a reply that
                  never comes, then fails with ``errno=`` (default ETIMEDOUT);
``crash``         the actor "crashes": the bus's supervisor gets an :class:`InjectedCrash`
                  and decides, exactly as for a real actor bug (EIO for the caller by default,
                  a restart under a supervision policy).

Which messages are hit:

``from=PATTERN``  the caller: ``task 1``, ``task*`` for any guest thread, ``kernel`` for the
                  Sentry's own work such as loading the first program or a timer firing;
``path=PATTERN``  a file the message names, made absolute: a path argument, or the path an
                  open file's handle was opened by (``path=/data/*``);
``fd=N``          the file descriptor of the system call being served (``read(3, ...)``);
``syscall=NAME``  the system call being served (a pattern);
``size>N``, ``size<N``, ``size=N``  the bytes the message moves or asks for;
``p=0.1``         probability (default 1);
``nth=N``, ``after=N``, ``count=K``  only the N-th match, from the N-th on, at most K hits.

The rule text is ``SERVICE.OP:ACTION[:KEY=VALUE…]``, e.g. ``--inject vfs.read:fail=EIO:path=/etc/*``
or ``--inject 'signals.futex_wake:delay=5ms'``; ``*`` works in SERVICE and OP. Matching counts
only messages that pass every filter, so ``path=/data/f:nth=3`` is the third read of that file.

Reproducibility: each rule draws from its own ``random.Random`` seeded by (seed, rule text), so
the same seed and the same sequence of matching messages give the same hits, and adding a rule
does not change another rule's choices. Every hit is recorded in :attr:`FaultInjector.hits`
and in the message's notes (which ``--trace-messages`` writes out); :meth:`FaultInjector.summary`
is the report printed at exit: each rule's matches and hits, and the rules that never matched.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any

from abi.errno import ETIMEDOUT, Errno, errorcode
from kernel import determinism
from kernel.argnames import ArgNames, PathBook, message_size
from kernel.bus import Bus, Message, Proceed
from kernel.strace import current_syscall

log = logging.getLogger("sentrio.faults")

_ERRNO_BY_NAME = {name: number for number, name in errorcode.items()}
_DURATION = re.compile(r"^([0-9]*\.?[0-9]+)(us|ms|s)?$")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}
_PART = re.compile(r"^([a-z_]+)(>|<|=)?(.*)$", re.DOTALL)
_ACTIONS = ("fail", "short", "delay", "drop", "crash")
#: VFS operations whose replies say which path a handle stands for.
_LEARNS = frozenset({"root", "open", "chdir", "open_exec"})
#: How long a dropped message's caller waits by default.
DROP_TIMEOUT = 1.0


class RuleError(ValueError):
    """A fault rule that cannot be parsed; the message says which part is wrong."""


class InjectedCrash(RuntimeError):
    """The exception an injected actor crash hands to the bus's supervisor."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One injected fault: which message, which rule, what was done."""

    seq: int
    service: str
    op: str
    caller: str
    rule: str
    action: str
    #: The id of the system call being served (as --strace and the trace show it), if any.
    syscall: int | None = None


@dataclass
class Rule:
    """One parsed ``SERVICE.OP:ACTION[:KEY=VALUE…]`` rule and its own random stream."""

    text: str
    service: str
    op: str
    action: str
    caller: str = "*"
    errno: int = 0
    #: ``errno=``: what a dropped message's caller gets when it gives up.
    timeout_errno: int = 0
    delay: float = 0.0
    #: ``short=N``: the most bytes the actor is asked for (None: half the request).
    limit: int | None = None
    probability: float = 1.0
    nth: int | None = None
    after: int = 1
    count: int | None = None
    path: str | None = None
    fd: int | None = None
    syscall: str | None = None
    #: ``size>N`` etc.: (comparison, N) pairs, all of which must hold.
    sizes: list[tuple[str, int]] = field(default_factory=list)
    matched: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def parse(cls, text: str, seed: int) -> Rule:
        target, _, rest = text.partition(":")
        service, dot, op = target.partition(".")
        if not service or not rest:
            raise RuleError(f"fault rule {text!r}: expected SERVICE.OP:ACTION[:KEY=VALUE...]")
        rule = cls(text=text, service=service, op=op if dot else "*", action="")
        for part in rest.split(":"):
            rule._set(part)
        if not rule.action:
            raise RuleError(f"fault rule {text!r}: needs an action (fail=ERRNO, short, delay=TIME, drop or crash)")
        if rule.timeout_errno and rule.action != "drop":
            raise RuleError(f"fault rule {text!r}: errno= goes with drop")
        if rule.action == "drop":
            rule.errno = rule.timeout_errno or ETIMEDOUT
        rule.rng = random.Random(f"{seed}:{text}")
        return rule

    @property
    def needs_args(self) -> bool:
        """Whether matching looks at the message's arguments (which then are named)."""
        return self.path is not None or bool(self.sizes)

    def _set(self, part: str) -> None:
        parsed = _PART.match(part)
        key, relation, value = parsed.groups() if parsed else (part, None, "")
        try:
            if relation in ("<", ">") and key != "size":
                raise RuleError(f"only size compares with {relation}")
            if key in _ACTIONS:
                if self.action:
                    raise RuleError("one action per rule")
                self.action = key
                if key == "fail":
                    self.errno = _errno(value)
                elif key == "delay":
                    self.delay = _duration(value)
                elif key == "drop":
                    self.delay = _duration(value) if value else DROP_TIMEOUT
                elif key == "short":
                    self.limit = _positive(value) if value else None
                elif value:
                    raise RuleError("crash takes no value")
            elif key == "errno":
                self.timeout_errno = _errno(value)
            elif key == "from":
                self.caller = value
            elif key == "path":
                self.path = value
            elif key == "syscall":
                self.syscall = value
            elif key == "fd":
                self.fd = int(value)
            elif key == "size":
                self.sizes.append((relation or "=", int(value)))
            elif key == "p":
                self.probability = float(value)
                if not 0.0 <= self.probability <= 1.0:
                    raise ValueError
            elif key in ("nth", "after", "count"):
                setattr(self, key, _positive(value))
            else:
                raise RuleError(f"unknown key {key!r}")
        except RuleError as error:
            raise RuleError(f"fault rule {self.text!r}: {error}") from None
        except (KeyError, ValueError) as error:
            raise RuleError(f"fault rule {self.text!r}: bad {part!r}") from error

    def targets(self, message: Message) -> bool:
        """Whether the message is to this rule's service and operation, from its callers."""
        return (
            fnmatch.fnmatchcase(message.service, self.service)
            and fnmatch.fnmatchcase(message.op, self.op)
            and fnmatch.fnmatchcase(message.caller, self.caller)
        )

    def selects(self, named: dict[str, Any], book: PathBook) -> bool:
        """Whether the message passes the rule's filters on what it is about."""
        if self.fd is not None or self.syscall is not None:
            span = current_syscall.get()
            if span is None:
                return False
            if self.syscall is not None and not fnmatch.fnmatchcase(span.name, self.syscall):
                return False
            if self.fd is not None and self.fd not in _fds(span.named):
                return False
        if self.path is not None:
            pattern = self.path
            if not any(fnmatch.fnmatchcase(path, pattern) for path in book.paths(named)):
                return False
        if self.sizes:
            size = message_size(named)
            if size is None or not all(_compare(size, relation, n) for relation, n in self.sizes):
                return False
        return True

    def decide(self) -> bool:
        """Count a matching message and say whether this one is hit."""
        self.matched += 1
        if self.count is not None and self.fired >= self.count:
            return False
        if self.nth is not None and self.matched != self.nth:
            return False
        if self.matched < self.after:
            return False
        # Draw even when p == 1, so a rule's stream does not depend on its probability.
        if self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


def _fds(named: dict[str, Any]) -> list[int]:
    return [value for name, value in named.items() if name == "fd" or name.endswith("_fd")]


def _compare(size: int, relation: str, n: int) -> bool:
    return size > n if relation == ">" else size < n if relation == "<" else size == n


def _errno(value: str) -> int:
    return int(value) if value.isdigit() else _ERRNO_BY_NAME[value.upper()]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _duration(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def _shortened(message: Message, named: dict[str, Any], limit: int | None) -> tuple[Any, ...] | None:
    """The message's arguments asking for fewer bytes: its buffers cut, or its size lowered."""
    names = list(named)
    size = message_size(named)
    if size is None or size <= 1:
        return None
    most = max(1, size // 2) if limit is None else min(limit, size)
    args = list(message.args)
    if "buffers" in named:
        cut, left = [], most
        for buffer in named["buffers"]:
            if left <= 0:
                break
            cut.append(buffer[:left])
            left -= len(cut[-1])
        args[names.index("buffers")] = cut
        return tuple(args)
    for name in ("size", "count", "length", "len"):
        if name in named:
            args[names.index(name)] = most
            return tuple(args)
    return None


class FaultInjector:
    """The interceptor: applies the first rule that hits each message."""

    def __init__(self, rules: list[str], seed: int = 0) -> None:
        self.seed = seed
        self.rules = [Rule.parse(text, seed) for text in rules]
        self.hits: list[Hit] = []
        self._bus: Bus | None = None
        self._names: ArgNames | None = None
        #: Handles' paths, learnt only when a rule matches on paths.
        self._book: PathBook | None = PathBook() if any(r.path is not None for r in self.rules) else None

    @property
    def needs_syscalls(self) -> bool:
        """Whether a rule looks at the system call being served (``fd=``, ``syscall=``)."""
        return any(r.fd is not None or r.syscall is not None for r in self.rules)

    def install(self, bus: Bus) -> None:
        """Join ``bus``'s interceptor chain (crashes go to its supervisor)."""
        self._bus = bus
        self._names = ArgNames(bus)
        bus.add_interceptor(self)

    async def __call__(self, message: Message, proceed: Proceed) -> Any:
        named: dict[str, Any] | None = None
        book = self._book
        for rule in self.rules:
            if not rule.targets(message):
                continue
            if rule.needs_args and named is None:
                named = self._named(message)
            if rule.selects(named or {}, book or _NO_BOOK) and rule.decide():
                result = await self._apply(rule, message, proceed, named)
                break
        else:
            result = await proceed(message)
        if book is not None and message.service == "vfs" and message.op in _LEARNS:
            book.learn(message.service, message.op, named or self._named(message), result)
        return result

    def _named(self, message: Message) -> dict[str, Any]:
        assert self._names is not None, "install() the injector on a bus first"
        return self._names.named(message.service, message.op, message.args)

    async def _apply(self, rule: Rule, message: Message, proceed: Proceed, named: dict[str, Any] | None) -> Any:
        span = current_syscall.get()
        hit = Hit(message.seq, message.service, message.op, message.caller, rule.text, rule.action,
                  span.id if span is not None else None)
        self.hits.append(hit)
        message.notes["fault"] = rule.text
        log.info("injected %s into %s.%s (message %d, %s)", rule.action, message.service, message.op,
                 message.seq, message.caller)
        if rule.action == "delay":
            await determinism.sleep(rule.delay)
            return await proceed(message)
        if rule.action == "fail":
            raise Errno(rule.errno)
        if rule.action == "drop":
            await determinism.sleep(rule.delay)
            raise Errno(rule.errno)
        if rule.action == "short":
            args = _shortened(message, named if named is not None else self._named(message), rule.limit)
            if args is not None:
                message.args = args
            return await proceed(message)
        error = InjectedCrash(f"injected crash of {message.service}.{message.op} by {rule.text!r}")
        assert self._bus is not None, "install() the injector on a bus first"
        return self._bus.supervisor.actor_crashed(self._bus.route(message.service), message, error)

    def summary(self) -> list[str]:
        """The exit report: each rule's matching messages and hits, and the rules that never matched."""
        lines = [f"fault rules (seed {self.seed}):"]
        for rule in self.rules:
            if not rule.matched:
                lines.append(f"  {rule.text}: never matched")
                continue
            hits = [h for h in self.hits if h.rule == rule.text]
            where = ", ".join(f"message {h.seq}" + (f" (syscall #{h.syscall}, {h.caller})" if h.syscall else
                                                    f" ({h.caller})") for h in hits[:5])
            more = f", ... {len(hits) - 5} more" if len(hits) > 5 else ""
            lines.append(f"  {rule.text}: matched {rule.matched}, hit {rule.fired}" +
                         (f": {where}{more}" if hits else ""))
        return lines


_NO_BOOK = PathBook()
