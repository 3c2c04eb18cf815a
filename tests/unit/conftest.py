"""The MM harness with one address space, for the MM's unit tests (test_mm.py has its own,
which also checks the stub is released)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.test_mm import Harness


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    harness.asid = await harness.mm.create()
    yield harness
    harness.memfile.close()
