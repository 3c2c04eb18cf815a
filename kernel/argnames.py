"""What a bus message's arguments mean, for the research tools (fault rules, traces).

A message carries its arguments positionally; the names come from the service's contract (or,
for an actor without one, from its handler's signature). With the names, a fault rule can match
``path=/data/*`` or ``size>4096`` and a trace can show a path in full. Paths are made absolute
by a :class:`PathBook`, which learns which path each VFS handle was opened by from the replies
it sees (an ``open``'s :class:`Opened`, a ``chdir``'s handle, the ``root``).

Nothing here is on the bus's hot path: only an installed interceptor calls it.
"""

from __future__ import annotations

import inspect
import posixpath
from collections.abc import Mapping
from typing import Any

from kernel.bus import Bus

#: Arguments that are paths (bytes), and the handle each is resolved from when it is relative.
PATH_ARGS = {"path": "start", "old_path": "old_start", "new_path": "new_start"}
#: Arguments that are VFS handles naming an open file.
HANDLE_ARGS = ("handle", "source", "sink", "start")
#: Integer arguments that are a size in bytes.
SIZE_ARGS = ("size", "count", "length", "len")


class ArgNames:
    """(service, op) -> the names of its arguments, looked up once."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def names(self, service: str, op: str) -> tuple[str, ...]:
        key = (service, op)
        names = self._cache.get(key)
        if names is None:
            names = self._cache[key] = self._lookup(service, op)
        return names

    def named(self, service: str, op: str, args: tuple[Any, ...]) -> dict[str, Any]:
        """The message's arguments by name (unnamed ones are left out)."""
        return dict(zip(self.names(service, op), args))

    def _lookup(self, service: str, op: str) -> tuple[str, ...]:
        try:
            route = self._bus.route(service)
        except LookupError:
            return ()
        contract = route.actor.contract
        candidates = [getattr(contract, op, None) if contract is not None else None, route.handlers.get(op)]
        for function in candidates:
            if function is None:
                continue
            try:
                parameters = list(inspect.signature(function).parameters.values())
            except (TypeError, ValueError):
                continue
            names = tuple(p.name for p in parameters
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self")
            if names:
                return names
        return ()


def message_size(named: Mapping[str, Any]) -> int | None:
    """The number of bytes a message moves or asks for: its buffers' total, else a size argument."""
    buffers = named.get("buffers")
    if isinstance(buffers, (list, tuple)):
        return sum(len(b) for b in buffers)
    for name in SIZE_ARGS:
        value = named.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class PathBook:
    """Which absolute path each VFS handle was opened by, learnt from the VFS's replies."""

    def __init__(self) -> None:
        self._paths: dict[int, str] = {}

    def handle_path(self, handle: object) -> str | None:
        return self._paths.get(handle) if isinstance(handle, int) else None

    def resolve(self, named: Mapping[str, Any], path_arg: str) -> str | None:
        """The absolute form of the path argument ``path_arg`` of a message."""
        raw = named.get(path_arg)
        if not isinstance(raw, (bytes, bytearray)):
            return None
        path = bytes(raw).decode("utf-8", "surrogateescape")
        if path.startswith("/"):
            return posixpath.normpath(path) if path != "//" else "/"
        base = self.handle_path(named.get(PATH_ARGS.get(path_arg, "start")))
        if base is None:
            return path or None  # relative to a directory we never saw opened
        return posixpath.normpath(posixpath.join(base, path)) if path else base

    def paths(self, named: Mapping[str, Any]) -> list[str]:
        """Every file a message names: its path arguments made absolute, and its handles' paths."""
        found = [p for p in (self.resolve(named, arg) for arg in PATH_ARGS if arg in named) if p is not None]
        if not found:
            found = [p for p in (self.handle_path(named.get(arg)) for arg in HANDLE_ARGS if arg in named)
                     if p is not None]
        return found

    def learn(self, service: str, op: str, named: Mapping[str, Any], reply: Any) -> None:
        """Note the path of a handle a VFS reply hands out."""
        if service != "vfs":
            return
        if op == "root" and isinstance(reply, int):
            self._paths[reply] = "/"
        elif op == "open" and isinstance(getattr(reply, "handle", None), int):
            path = self.resolve(named, "path")
            if path is not None:
                self._paths[reply.handle] = path
        elif op == "chdir" and isinstance(reply, int):
            path = self.resolve(named, "path")
            if path is not None:
                self._paths[reply] = path
        elif op == "open_exec":
            opened = getattr(reply, "opened", None)
            exe_path = getattr(reply, "path", None)
            if opened is not None and isinstance(exe_path, bytes):
                self._paths[opened.handle] = exe_path.decode("utf-8", "surrogateescape")
