"""Each program prints one line per call (result and errno name); native and Sentrio must agree.

Every run of the module is started at once (a run is mostly start-up latency), then compared.
"""

from __future__ import annotations

import pytest

from tests.files.conftest import Batch, Images

pytestmark = pytest.mark.differential

OVERLAY = ["fileio", "names", "attrs", "escape", "devices", "pipes", "events", "filedata", "fifo"]
WRITE_THROUGH = ["fileio", "names", "fifo"]


@pytest.fixture(scope="module")
def runs(images: Images) -> Batch:
    batch = Batch()
    for program in OVERLAY:
        batch.native(("native", program), images.fresh(native=True), f"/bin/{program}")
        batch.sentrio(("overlay", program), images.fresh(), f"/bin/{program}")
    for program in WRITE_THROUGH:
        batch.sentrio(("rw", program), images.fresh(), f"/bin/{program}", flags=("--rw",))
    for program in ("dynamic", "dynamic-musl"):
        if (images.template / "bin" / program).exists():
            batch.native(("native", program), images.fresh(native=True), f"/bin/{program}", "x", "y")
            batch.sentrio(("overlay", program), images.fresh(), f"/bin/{program}", "x", "y")
    if (images.template / "bin" / "busybox").exists():
        for index, command in enumerate(BUSYBOX):
            batch.native(("native", f"busybox{index}"), images.fresh(native=True), "/bin/busybox", *command)
            batch.sentrio(("overlay", f"busybox{index}"), images.fresh(), "/bin/busybox", *command)
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


@pytest.mark.parametrize("program", ["dynamic", "dynamic-musl"])
def test_dynamically_linked_program(images: Images, runs: Batch, program: str) -> None:
    """glibc's ld-linux and musl's loader, copied from the host into the image, run the program."""
    if not (images.template / "bin" / program).exists():
        pytest.skip(f"no compiler for {program}")
    native = runs.result(("native", program))
    sandboxed = runs.result(("overlay", program))
    assert native.stdout == f"dynamic /bin/{program} argc=3 read=from the image\n"
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)


BUSYBOX = [
    ["ls", "-la", "/data", "/bin/busybox"],
    ["find", "/data", "/etc", "/MARKER"],
    ["sha256sum", "/bin/busybox", "/data/existing"],
    ["stat", "-c", "%n %s %a %F %h", "/data", "/data/existing", "/MARKER"],
    ["wc", "/data/existing"],
]


@pytest.mark.parametrize("index", range(len(BUSYBOX)), ids=[" ".join(c[:2]) for c in BUSYBOX])
def test_busybox_applets(images: Images, runs: Batch, index: int) -> None:
    """A real program (busybox-static) walking, listing, stat-ing and reading the image."""
    if not (images.template / "bin" / "busybox").exists():
        pytest.skip("busybox is not installed")
    _compare(runs, "overlay", f"busybox{index}")
