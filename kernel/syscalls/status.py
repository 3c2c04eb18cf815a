"""What a handler declares about itself for the coverage table (docs/syscalls.md).

A handler is *implemented* by default. One that serves the call only in part says what is
missing with :func:`partial`; one that answers every guest with Linux's errno for a container
without the capability it needs says so with :func:`errno_only` (such a call is not counted as
implemented). Both are decorators placed under ``@syscall``::

    @syscall
    @partial("completed synchronously: no request is ever in flight")
    async def io_submit(t, ...): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

PARTIAL_ATTRIBUTE = "__sentrio_partial__"
ERRNO_ATTRIBUTE = "__sentrio_errno_only__"


def partial(missing: str) -> Callable[[F], F]:
    """Mark a handler as serving its call in part; ``missing`` says what it lacks."""
    def mark(handler: F) -> F:
        setattr(handler, PARTIAL_ATTRIBUTE, missing)
        return handler
    return mark


def errno_only(why: str) -> Callable[[F], F]:
    """Mark a handler that answers every guest with an errno on purpose; ``why`` says which
    and why (the capability a container lacks, what the sandbox cannot give)."""
    def mark(handler: F) -> F:
        setattr(handler, ERRNO_ATTRIBUTE, why)
        return handler
    return mark


def status_of(handler: Callable[..., Any]) -> tuple[str, str]:
    """("implemented" | "partial" | "errno", what the table says beside it)."""
    why = getattr(handler, ERRNO_ATTRIBUTE, None)
    if why is not None:
        return "errno", why
    missing = getattr(handler, PARTIAL_ATTRIBUTE, None)
    if missing is not None:
        return "partial", missing
    return "implemented", ""
