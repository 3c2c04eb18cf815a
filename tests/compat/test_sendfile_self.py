"""sendfile of a file onto its own end (``programs/sendfile_self.c``): the file grows by its
last bytes repeated, as Linux's chunk-by-chunk copy makes it; RLIMIT_FSIZE cuts the copy short
with the count moved and SIGXFSZ; and a copy Linux makes in seconds takes no longer here (the
fuzz campaign of 2026-12-05 saw 19-byte steps take minutes)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same


@needs_root()
def test_sendfile_onto_its_own_end_as_linux(image: Path) -> None:
    outcome = same(image, "/bin/sendfile_self")
    assert "onto its end: moved 2000000, offset 2000000, size 2000019" in outcome.stdout
    assert "up to RLIMIT_FSIZE: moved 1048557, offset 1048557, size 1048576" in outcome.stdout
    assert outcome.stdout.rstrip().endswith("SIGXFSZ 1")
