"""How --strace shows a result: numbers, addresses, errors, and interrupted calls."""

from __future__ import annotations

from abi.errno import ENOENT, ERESTART_RESTARTBLOCK, ERESTARTSYS
from kernel.strace import Strace


def test_results_read_as_strace_prints_them() -> None:
    assert Strace.result(3) == "3"
    assert Strace.result(0x7F00_0000_0000) == "0x7f0000000000"
    assert Strace.result(None) == "?"
    assert Strace.result(-ENOENT) == "-1 ENOENT (No such file or directory)"


def test_an_interrupted_call_shows_its_restart_code_by_name() -> None:
    assert Strace.result(-ERESTARTSYS) == "? ERESTARTSYS (To be restarted if SA_RESTART is set)"
    assert Strace.result(-ERESTART_RESTARTBLOCK) == "? ERESTART_RESTARTBLOCK (Interrupted by signal)"
