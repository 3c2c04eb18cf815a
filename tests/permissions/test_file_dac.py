"""File permissions (DAC), natively and under Sentrio, as a user and as root without the
capability that would override each check: opening, creating, truncating, directories and the
sticky bit, attributes and set-id bits, links, search permission and access(2).

Every check is the VFS's (services/vfs/permissions.py), from the caller's credentials.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.permissions.conftest import USER_1000, Identity, compare, root_without

pytestmark = pytest.mark.differential

CASES = [
    ("dac_open", USER_1000),
    ("dac_open", root_without("DAC_OVERRIDE")),
    ("dac_dirs", USER_1000),
    ("dac_dirs", root_without("DAC_OVERRIDE")),
    ("dac_dirs", root_without("FOWNER")),
    ("dac_attrs", USER_1000),
    ("dac_attrs", root_without("FOWNER")),
    ("dac_attrs", root_without("CHOWN")),
    ("dac_attrs", root_without("FSETID")),
    ("dac_links", USER_1000),
    ("dac_links", root_without("FOWNER")),
    ("dac_search", USER_1000),
    ("dac_search", root_without("DAC_OVERRIDE")),
]


@pytest.mark.parametrize(("program", "who"), [pytest.param(p, w, id=f"{p}-{w.name}") for p, w in CASES])
def test_file_permissions(image: Path, program: str, who: Identity) -> None:
    compare(image, who, f"/bin/{program}")
