"""--pids-limit holds when forks race: the slot is taken before the first await of clone.

Eight processes fork as fast as they can until fork fails; nobody exits before the end, so
every process that ever lived is counted. Before the reservation, each fork checked the limit,
then awaited the MM's copy of the address space while the others passed the same check:
57 processes under a limit of 50 here, 98 in the report that found it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.permissions.conftest import ROOT, run_sentrio


@pytest.mark.parametrize("limit", [20, 50])
def test_racing_forks_never_exceed_the_pids_limit(image: Path, limit: int) -> None:
    outcome = run_sentrio(image, ROOT, ["/bin/forkstorm"], options=("--pids-limit", str(limit)))
    assert outcome.status == 0, outcome.stderr
    assert outcome.stdout == f"processes: {limit}\nforks failing with EAGAIN: 8; otherwise: none\n"


def test_a_failed_fork_gives_its_slot_back(image: Path) -> None:
    """Forks the MM refuses (injected ENOMEM) must not use up the limit: the limit is still
    reached exactly, by forks that succeeded."""
    outcome = run_sentrio(image, ROOT, ["/bin/forkstorm"],
                          options=("--pids-limit", "50", "--inject", "mm.fork:fail=ENOMEM:p=0.3", "--seed", "3"))
    assert outcome.status == 0, outcome.stderr
    assert outcome.stdout == "processes: 50\nforks failing with EAGAIN: 8; otherwise: some\n"


def test_zombies_count_until_they_are_reaped(image: Path) -> None:
    """The limit counts unreaped zombies (every process but the first, here): 1 + 9 under 10."""
    outcome = run_sentrio(image, ROOT, ["/bin/zombies"], options=("--pids-limit", "10"))
    assert outcome.status == 0, outcome.stderr
    assert outcome.stdout == "fork failed with EAGAIN after 9 zombies\nreaped 9; a fork after: ok\n"
