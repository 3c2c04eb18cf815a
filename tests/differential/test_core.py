"""Issue 2's acceptance, differentially: each static program behaves the same under Sentrio as
natively under chroot — stdout, stderr and exit status — in every libc/linking variant."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.differential.harness import VARIANTS, Variant, binary_name, build_image, explain, run_native, run_sentrio

pytestmark = [
    pytest.mark.differential,
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and ptrace need root"),
]


@dataclass(frozen=True)
class Case:
    """How a program is run: extra arguments and what it reads on stdin."""

    args: tuple[str, ...] = ()
    stdin: bytes = b""


CASES: dict[str, Case] = {
    "args_env_auxv": Case(args=("first", "with space", "", "last")),
    "malloc_churn": Case(),
    "big_mapping": Case(),
    "mm_calls": Case(),
    "brk": Case(),
    "clocks": Case(),
    "random": Case(),
    "uname": Case(),
    "ids": Case(),
    "segv_null": Case(),
    "efault": Case(),
    "enosys": Case(),
    "stdio": Case(stdin=b"hello, sandbox\n"),
    "exit_code": Case(args=("7",)),
}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("differential-core")
    build_image(root, CASES, VARIANTS)
    return root


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
@pytest.mark.parametrize("program", sorted(CASES))
def test_same_as_native(image: Path, program: str, variant: Variant) -> None:
    if not variant.available():
        pytest.skip(f"{variant.compiler} is not installed")
    case = CASES[program]
    argv = [f"/bin/{binary_name(program, variant)}", *case.args]
    native = run_native(image, argv, case.stdin)
    sentrio = run_sentrio(image, argv, case.stdin)
    assert sentrio == native, explain(native, sentrio)
