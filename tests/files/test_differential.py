"""Each program prints one line per call (result and errno name); native and Sentrio must agree.

Every run of the module is started at once (a run is mostly start-up latency), then compared.
"""

from __future__ import annotations

import pytest

from tests.files.conftest import Batch, Images

pytestmark = pytest.mark.differential

OVERLAY = ["fileio", "names", "attrs", "escape", "devices", "pipes", "events", "filedata"]
WRITE_THROUGH = ["fileio", "names"]


@pytest.fixture(scope="module")
def runs(images: Images) -> Batch:
    batch = Batch()
    for program in OVERLAY:
        batch.native(("native", program), images.fresh(native=True), f"/bin/{program}")
        batch.sentrio(("overlay", program), images.fresh(), f"/bin/{program}")
    for program in WRITE_THROUGH:
        batch.sentrio(("rw", program), images.fresh(), f"/bin/{program}", flags=("--rw",))
    batch.native(("native", "dynamic"), images.fresh(native=True), "/bin/dynamic", "x", "y")
    batch.sentrio(("overlay", "dynamic"), images.fresh(), "/bin/dynamic", "x", "y")
    return batch


def _compare(runs: Batch, mode: str, program: str) -> None:
    native = runs.result(("native", program))
    sandboxed = runs.result((mode, program))
    assert native.status == 0, native.stderr
    assert sandboxed.stderr == native.stderr
    assert sandboxed.stdout == native.stdout
    assert sandboxed.status == native.status


@pytest.mark.parametrize("program", OVERLAY)
def test_same_as_native(runs: Batch, program: str) -> None:
    _compare(runs, "overlay", program)


@pytest.mark.parametrize("program", WRITE_THROUGH)
def test_same_as_native_writing_through(runs: Batch, program: str) -> None:
    """``--rw``: the same programs, with every change made in the image by the gofer."""
    _compare(runs, "rw", program)


def test_dynamically_linked_program(runs: Batch) -> None:
    native = runs.result(("native", "dynamic"))
    sandboxed = runs.result(("overlay", "dynamic"))
    assert native.stdout == "dynamic /bin/dynamic argc=3 read=from the image\n"
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)
