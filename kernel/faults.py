"""Fault injection on the bus, reproducible from a seed.

A :class:`FaultInjector` is a bus interceptor holding :class:`Rule` s. A rule picks messages by
service and operation (shell-style patterns), decides with its own seeded random stream whether
this message is hit, and then acts:

``fail=ERRNO``   the call fails with that errno (``fail=EIO``), the actor never sees it;
``delay=TIME``   the message is held for TIME (``5ms``, ``0.2s``) and then delivered;
``crash``        the actor "crashes": the bus's supervisor gets an :class:`InjectedCrash`
                 and decides, exactly as for a real actor bug (EIO for the caller by default).

Which messages are hit: ``from=PATTERN`` (the caller: ``task 1``, ``task*`` for any guest
thread, ``kernel`` for the Sentry's own work such as loading the first program), ``p=0.1``
(probability, default 1), ``nth=N`` (only the N-th matching message), ``after=N`` (from the N-th
on), ``count=K`` (at most K hits). The rule text is
``SERVICE.OP:ACTION[:KEY=VALUE…]``, e.g. ``--inject gofer.read:fail=EIO:p=0.05`` or
``--inject 'signals.futex_wake:delay=5ms'``; ``*`` works in SERVICE and OP.

Reproducibility: each rule draws from its own ``random.Random`` seeded by (seed, rule text), so
the same seed and the same sequence of matching messages give the same hits, and adding a rule
does not change another rule's choices. Every hit is recorded in :attr:`FaultInjector.hits`
and in the message's notes (which ``--trace-messages`` writes out).
"""

from __future__ import annotations

import fnmatch
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any

import trio

from abi.errno import errorcode
from kernel.bus import Bus, Message, Proceed
from abi.errno import Errno

log = logging.getLogger("sentrio.faults")

_ERRNO_BY_NAME = {name: number for number, name in errorcode.items()}
_DURATION = re.compile(r"^([0-9]*\.?[0-9]+)(us|ms|s)?$")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}


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


@dataclass
class Rule:
    """One parsed ``SERVICE.OP:ACTION[:KEY=VALUE…]`` rule and its own random stream."""

    text: str
    service: str
    op: str
    action: str
    caller: str = "*"
    errno: int = 0
    delay: float = 0.0
    probability: float = 1.0
    nth: int | None = None
    after: int = 1
    count: int | None = None
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
            key, _, value = part.partition("=")
            rule._set(key, value)
        if not rule.action:
            raise RuleError(f"fault rule {text!r}: needs an action (fail=ERRNO, delay=TIME or crash)")
        rule.rng = random.Random(f"{seed}:{text}")
        return rule

    def _set(self, key: str, value: str) -> None:
        try:
            if key in ("fail", "delay", "crash"):
                if self.action:
                    raise RuleError("one action per rule")
                self.action = key
                if key == "fail":
                    self.errno = _ERRNO_BY_NAME[value.upper()] if not value.isdigit() else int(value)
                elif key == "delay":
                    self.delay = _duration(value)
                elif value:
                    raise RuleError("crash takes no value")
            elif key == "from":
                self.caller = value
            elif key == "p":
                self.probability = float(value)
                if not 0.0 <= self.probability <= 1.0:
                    raise ValueError
            elif key in ("nth", "after", "count"):
                number = int(value)
                if number < 1:
                    raise ValueError
                setattr(self, key, number)
            else:
                raise RuleError(f"unknown key {key!r}")
        except RuleError as error:
            raise RuleError(f"fault rule {self.text!r}: {error}") from None
        except (KeyError, ValueError) as error:
            raise RuleError(f"fault rule {self.text!r}: bad {key}={value!r}") from error

    def matches(self, message: Message) -> bool:
        return (
            fnmatch.fnmatchcase(message.service, self.service)
            and fnmatch.fnmatchcase(message.op, self.op)
            and fnmatch.fnmatchcase(message.caller, self.caller)
        )

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


def _duration(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


class FaultInjector:
    """The interceptor: applies the first rule that hits each message."""

    def __init__(self, rules: list[str], seed: int = 0) -> None:
        self.seed = seed
        self.rules = [Rule.parse(text, seed) for text in rules]
        self.hits: list[Hit] = []
        self._bus: Bus | None = None

    def install(self, bus: Bus) -> None:
        """Join ``bus``'s interceptor chain (crashes go to its supervisor)."""
        self._bus = bus
        bus.add_interceptor(self)

    async def __call__(self, message: Message, proceed: Proceed) -> Any:
        for rule in self.rules:
            if rule.matches(message) and rule.decide():
                return await self._apply(rule, message, proceed)
        return await proceed(message)

    async def _apply(self, rule: Rule, message: Message, proceed: Proceed) -> Any:
        hit = Hit(message.seq, message.service, message.op, message.caller, rule.text, rule.action)
        self.hits.append(hit)
        message.notes["fault"] = rule.text
        log.info("injected %s into %s.%s (message %d, %s)", rule.action, message.service, message.op,
                 message.seq, message.caller)
        if rule.action == "delay":
            await trio.sleep(rule.delay)
            return await proceed(message)
        if rule.action == "fail":
            raise Errno(rule.errno)
        error = InjectedCrash(f"injected crash of {message.service}.{message.op} by {rule.text!r}")
        assert self._bus is not None, "install() the injector on a bus first"
        return self._bus.supervisor.actor_crashed(self._bus.route(message.service), message, error)
