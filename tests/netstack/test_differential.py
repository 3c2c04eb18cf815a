"""Each program prints one line per call (its result, and errno's name when it failed); native
and Sentrio must agree, on stdout, stderr and the exit status.

Every run of the module is started at once (a run is mostly start-up latency), then compared.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.netstack.conftest import Batch, Images

pytestmark = pytest.mark.differential

PROGRAMS = ["socketpair", "unix_stream", "unix_dgram", "scm_rights", "tcp", "udp", "nonblock_connect", "epoll100",
            "ifaddrs", "ifaddrs-musl", "unprivileged", "interrupt", "sendfile"]
#: Programs run as uid/gid 65534 on both sides (without capabilities).
UNPRIVILEGED = {"unprivileged"}
#: AF_UNIX servers bound in a directory of the image: through the overlay, and written
#: through by the gofer (--rw), besides the /tmp tmpfs of the plain run.
IMAGE_DIRECTORY = {"overlay": (), "rw": ("--rw",)}


@pytest.fixture(scope="module")
def runs(images: Images) -> Iterator[Batch]:
    batch = Batch()
    for program in PROGRAMS:
        user = "65534:65534" if program in UNPRIVILEGED else None
        batch.native(("native", program), images.fresh(), f"/bin/{program}", user=user)
        batch.sentrio(("sentrio", program), images.fresh(), f"/bin/{program}", flags=("-u", user) if user else ())
    batch.native(("native", "unix_stream /srv"), images.fresh(), "/bin/unix_stream", "/srv")
    for mode, flags in IMAGE_DIRECTORY.items():
        batch.sentrio((mode, "unix_stream /srv"), images.fresh(), "/bin/unix_stream", "/srv", flags=flags)
    yield batch
    batch.close()


def _compare(runs: Batch, key: object, program: str) -> None:
    native = runs.result(("native", program))
    sandboxed = runs.result((key, program))
    assert native.status == 0, native.stderr
    assert sandboxed.stderr == native.stderr
    assert sandboxed.stdout == native.stdout
    assert sandboxed.status == native.status


@pytest.mark.parametrize("program", PROGRAMS)
def test_same_as_native(images: Images, runs: Batch, program: str) -> None:
    if not (images.template / "bin" / program).exists():
        pytest.skip(f"no compiler for {program}")
    _compare(runs, "sentrio", program)


@pytest.mark.parametrize("mode", IMAGE_DIRECTORY)
def test_unix_sockets_bound_in_the_image(runs: Batch, mode: str) -> None:
    """Socket files in a directory of the image: the overlay's (the image never changes) and,
    with --rw, the gofer's (a real socket file on the host)."""
    _compare(runs, mode, "unix_stream /srv")
