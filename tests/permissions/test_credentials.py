"""Credentials and capabilities, natively and under Sentrio, as a user and as root with
docker's capabilities less one: capget after uid changes, capset's rules, the set*id rules,
the bounding and ambient sets, set-id programs at execve, signals across users, priorities."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.permissions.conftest import ROOT, USER_1000, Identity, compare, root_with, root_without

pytestmark = pytest.mark.differential


@pytest.mark.parametrize("who", [USER_1000, ROOT, root_without("SETUID")], ids=lambda who: who.name)
def test_capget_after_uid_changes(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/caps")


@pytest.mark.parametrize("who", [USER_1000, ROOT, root_without("SETPCAP")], ids=lambda who: who.name)
def test_capset_ambient_keepcaps_and_securebits(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/capset")


@pytest.mark.parametrize("who", [USER_1000, ROOT, root_without("SETUID"), root_without("SETGID")],
                         ids=lambda who: who.name)
def test_set_id_rules(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/setids")


@pytest.mark.parametrize("who", [USER_1000, ROOT, root_without("SETPCAP")], ids=lambda who: who.name)
def test_bounding_set(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/capbset")


@pytest.mark.parametrize("who", [USER_1000, ROOT], ids=lambda who: who.name)
def test_set_id_programs_at_exec(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/execid")


@pytest.mark.parametrize("who", [USER_1000, ROOT, root_with("SYS_NICE")], ids=lambda who: who.name)
def test_priorities(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/nice")


@pytest.mark.parametrize("who", [USER_1000, ROOT, root_without("KILL")], ids=lambda who: who.name)
def test_signals_across_users(image: Path, who: Identity) -> None:
    compare(image, who, "/bin/kill")
