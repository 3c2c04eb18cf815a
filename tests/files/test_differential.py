"""Each program prints one line per call (result and errno name); native and Sentrio must agree.

Every run of the module is started at once (a run is mostly start-up latency), then compared.
"""

from __future__ import annotations

import pytest

from tests.files.conftest import REPO, Batch, Images

pytestmark = pytest.mark.differential

OVERLAY = ["fileio", "names", "attrs", "escape", "devices", "pipes", "events", "filedata", "fifo", "fifo_wait",
           "splice", "tmpfile", "openat2", "locks", "sharedmap", "pastend", "fsize", "compat"]
WRITE_THROUGH = ["fileio", "names", "fifo", "locks", "sharedmap"]


@pytest.fixture(scope="module")
def runs(images: Images) -> Batch:
    batch = Batch()
    for program in OVERLAY:
        batch.native(("native", program), images.fresh(native=True), f"/bin/{program}")
        batch.sentrio(("overlay", program), images.fresh(), f"/bin/{program}")
    for program in WRITE_THROUGH:
        batch.sentrio(("rw", program), images.fresh(), f"/bin/{program}", flags=("--rw",))
    for program in ("locks", "sharedmap"):
        batch.native(("native", f"{program}-image"), images.fresh(native=True), f"/bin/{program}", "/data/existing")
        batch.sentrio(("overlay", f"{program}-image"), images.fresh(), f"/bin/{program}", "/data/existing")
        batch.sentrio(("rw", f"{program}-image"), images.fresh(), f"/bin/{program}", "/data/existing",
                      flags=("--rw",))
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


@pytest.mark.parametrize("mode", ["overlay", "rw"])
@pytest.mark.parametrize("program", ["locks", "sharedmap"])
def test_on_an_image_file(runs: Batch, mode: str, program: str) -> None:
    """Locks, and MAP_SHARED mappings, of a file of the image (copied up, or the gofer's, under --rw)."""
    _compare(runs, mode, f"{program}-image")


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
    ["find", "/data", "/MARKER"],  # not /etc: the sandbox's holds its network files
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


def _needs(path: str) -> None:
    """Skip unless this tree has ``path`` (signals and fork come from the processes work)."""
    if not (REPO / path).exists():
        pytest.skip(f"{path} is not in this tree")


def test_signals_interrupt_blocking_file_calls(images: Images) -> None:
    _needs("services/signals")
    batch = Batch()
    batch.native("native", images.fresh(native=True), "/bin/interrupt")
    batch.sentrio("sentrio", images.fresh(), "/bin/interrupt")
    native, sandboxed = batch.result("native"), batch.result("sentrio")
    assert native.stdout == ("read -1 Interrupted system call\npoll -1 Interrupted system call\n"
                             "epoll -1 Interrupted system call\nrestarted read 1\n"
                             "interrupted big write 65536 \nwrite to a full pipe -1 Interrupted system call\n")
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)


SHELL = [
    "yes | head -3",
    "echo abc > /tmp/f; cat /tmp/f /data/existing | wc -c",
    "mkfifo /tmp/p; (echo via fifo > /tmp/p &); cat /tmp/p",
    "exec 3>/tmp/o; echo to3 >&3; cat /tmp/o; ls /tmp",
    "cd /data && pwd && cat existing | tr a-z A-Z",
]


@pytest.mark.parametrize("command", SHELL)
def test_shell_pipelines(images: Images, command: str) -> None:
    """busybox sh: pipes, FIFOs, redirections and SIGPIPE across forked processes."""
    _needs("kernel/syscalls/clone.py")
    if not (images.template / "bin" / "busybox").exists():
        pytest.skip("busybox is not installed")
    batch = Batch()
    batch.native("native", images.fresh(native=True), "/bin/busybox", "sh", "-c", command)
    batch.sentrio("sentrio", images.fresh(), "/bin/busybox", "sh", "-c", command)
    native, sandboxed = batch.result("native"), batch.result("sentrio")
    assert native.status == 0, native.stderr
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)
