"""What the Sentry imports before confinement: every module a run may need, and not the ones
only other commands and options use, which would cost every run's start-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kernel.confine.sentry import NOT_PRELOADED

_PRELOAD = textwrap.dedent("""
    import sys
    from kernel.confine.sentry import preload
    preload()
    print(" ".join(sorted(sys.modules)))
""")


def test_preload_leaves_out_the_scheduler_the_fuzzer_and_pytest() -> None:
    done = subprocess.run([sys.executable, "-c", _PRELOAD], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "kernel.syscalls.table" in loaded and "services.vfs.actor" in loaded and "gofer.protocol" in loaded
    left_out = {name for name in loaded if name.startswith(NOT_PRELOADED)}
    assert left_out == set()
    # The deterministic scheduler's trio.testing imports pytest where it is installed (~75 ms).
    assert "trio.testing" not in loaded and "pytest" not in loaded
