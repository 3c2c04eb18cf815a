"""Each program prints one line per call (result and errno name); native and Sentrio must agree."""

from __future__ import annotations

import pytest

from tests.files.conftest import Images, run_native, run_sentrio

pytestmark = pytest.mark.differential


@pytest.mark.parametrize("program", ["fileio", "names", "attrs", "escape", "devices"])
def test_same_as_native(images: Images, program: str) -> None:
    native = run_native(images.fresh(native=True), f"/bin/{program}")
    sandboxed = run_sentrio(images.fresh(), f"/bin/{program}")
    assert native.status == 0, native.stderr
    assert sandboxed.stderr == native.stderr
    assert sandboxed.stdout == native.stdout
    assert sandboxed.status == native.status


@pytest.mark.parametrize("program", ["fileio", "names", "attrs", "escape"])
def test_same_as_native_writing_through(images: Images, program: str) -> None:
    """``--rw``: the same programs, with every change made in the image by the gofer."""
    native = run_native(images.fresh(native=True), f"/bin/{program}")
    sandboxed = run_sentrio(images.fresh(), f"/bin/{program}", flags=("--rw",))
    assert native.status == 0, native.stderr
    assert sandboxed.stderr == native.stderr
    assert sandboxed.stdout == native.stdout
    assert sandboxed.status == native.status


def test_dynamically_linked_program(images: Images) -> None:
    native = run_native(images.fresh(native=True), "/bin/dynamic", "x", "y")
    sandboxed = run_sentrio(images.fresh(), "/bin/dynamic", "x", "y")
    assert native.stdout == "dynamic /bin/dynamic argc=3 read=from the image\n"
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)
