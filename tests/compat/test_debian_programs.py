"""Real programs from Debian doing real work (``debian_programs.py``): shells, coreutils,
``make -j2`` with gcc, sqlite3, openssl, perl, git and python3, natively and under Sentrio, with
the same stdout, stderr and exit status (issue 15's acceptance and compatibility report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import needs_root
from tests.compat.debian_programs import CASES, both, programs_image

pytestmark = needs_root()


@pytest.fixture(scope="module")
def image() -> Path:
    return programs_image()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_debian_program_does_what_it_does_on_linux(image: Path, case: str) -> None:
    expected, got = both(image, case)
    assert expected.status == 0 and expected.stdout, f"the case itself fails natively: {expected}"
    assert got == expected
