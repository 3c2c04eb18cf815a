"""One gofer process serving several mounts: a bounded number of gofers for hundreds of volumes,
each mount still alone with its tree (no path from one reaches another), a read-only mount still
refused writes by the gofer itself, and a dead gofer failing, or moving, every mount it served."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from abi.errno import EINVAL, EIO, EROFS, Errno
from bench.memory import tree as process_tree
from gofer import protocol as p
from gofer.server import serve_mounts
from kernel.kernel import KernelConfig, PrestartedGofers
from kernel.oci import MountSpec
from services.gofer_proxy.connection import SPARES_VARIABLE, GoferConnection, spawn_gofers
from tests.hostprocs import process_args

PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="gofers confine themselves as root here")


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """Two mounts' directories, each with a file and a symlink aiming at the other (by absolute
    path, by relative path, and at the root), and a host secret beside them."""
    (tmp_path / "secret").write_text("host secret\n")
    a, b = tmp_path / "a", tmp_path / "b"
    for here, there in ((a, b), (b, a)):
        (here / "dir").mkdir(parents=True)
        (here / "mine").write_text(f"{here.name}\n")
        os.symlink(there, here / "abs")
        os.symlink(f"../{there.name}", here / "rel")
        os.symlink("/", here / "slash")
    return a, b


async def started(nursery: trio.Nursery, mounts: list[tuple[Path, bool]]
                  ) -> tuple[subprocess.Popen[bytes], list[GoferConnection]]:
    process, conns = spawn_gofers(mounts)
    for conn in conns:
        await nursery.start(conn.run)
    return process, conns


@pytest.fixture
async def group(nursery: trio.Nursery, trees: tuple[Path, Path]
                ) -> AsyncIterator[tuple[subprocess.Popen[bytes], list[GoferConnection]]]:
    """One confined gofer process serving ``a`` read-only and ``b`` writable."""
    a, b = trees
    process, conns = await started(nursery, [(a, False), (b, True)])
    yield process, conns
    for conn in conns:
        await conn.aclose()
    process.wait(timeout=10)


async def expect_errno(code: int, call) -> None:  # noqa: ANN001
    with pytest.raises(Errno) as failure:
        await call
    assert failure.value.errno == code


async def read_file(conn: GoferConnection, *names: bytes) -> bytes:
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, list(names), fid)
    await conn.lopen(fid, os.O_RDONLY)
    return await conn.read(fid, 0, 4096)


# --- isolation ------------------------------------------------------------------------------


async def test_one_process_serves_each_mount_its_own_tree(group, trees: tuple[Path, Path]) -> None:
    process, (a, b) = group
    assert await read_file(a, b"mine") == b"a\n"
    assert await read_file(b, b"mine") == b"b\n"
    assert [child for child in process_tree(process.pid) if child != process.pid] == []  # one process


async def test_no_walk_from_one_mount_reaches_another(group) -> None:
    _, (a, b) = group
    for conn in (a, b):
        root = await conn.attach()
        await expect_errno(EINVAL, conn.walk(root, [b".."], conn.new_fid()))
        for link in (b"abs", b"rel", b"slash"):
            # The symlink itself is reached, never followed: a walk on through it stops at it.
            [qid] = await conn.walk(root, [link], conn.new_fid())
            assert qid.type == p.QTSYMLINK
            assert len(await conn.walk(root, [link, b"mine"], conn.new_fid())) == 1
            assert len(await conn.walk(root, [link, b"dir"], conn.new_fid())) == 1
            fid = conn.new_fid()
            await conn.walk(root, [link], fid)
            with pytest.raises(Errno):
                await conn.lopen(fid, os.O_RDONLY)


def test_the_trees_of_a_confined_gofer_lead_nowhere_else(trees: tuple[Path, Path], tmp_path: Path) -> None:
    """Below the protocol: even a walk that a bug let follow ``..``, a symlink or a magic link
    stays in its own tree, since each is a detached mount beside an empty root."""
    a, b = trees
    result = subprocess.run([sys.executable, "-c", f"""
import os
from gofer.confine import confine_mounts
fds = confine_mounts([({str(a)!r}, False), ({str(b)!r}, True)])
def names(fd, path):
    try:
        d = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    except OSError as error:
        return error.strerror
    try:
        return sorted(os.listdir(d))
    finally:
        os.close(d)
for fd in fds:
    for path in ("..", "../..", "dir/../..", "abs", "rel", "slash", "/", "/proc/self/root", "proc/self/root",
                 f"/proc/self/fd/{{fds[0]}}", f"/proc/self/fd/{{fds[1]}}"):
        print(path, names(fd, path))
    try:
        os.close(os.open("new", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)); print("created")
    except OSError as error:
        print(error.strerror)
"""], cwd=PROJECT, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(PROJECT)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    own = ["abs", "dir", "mine", "rel", "slash"]
    for tree, block, last in ((a, lines[:11], lines[11]), (b, lines[12:23], lines[23])):
        seen = dict(line.split(" ", 1) for line in block)
        assert seen[".."] == seen["../.."] == seen["dir/../.."] == str(own), (tree, seen)  # .. stays
        for path in ("abs", "rel"):  # a host path, or the sibling's name: nothing there
            assert seen[path] == "No such file or directory", (tree, path, seen)
        assert seen["slash"] == seen["/"] == "[]"  # the root is empty
        for path in ("/proc/self/root", "proc/self/root", *(k for k in seen if k.startswith("/proc/self/fd/"))):
            assert seen[path] == "No such file or directory"  # no /proc: no magic links
        assert last == ("Read-only file system" if tree == a else "created")
    assert (b / "new").exists() and not (a / "new").exists()
    assert (tmp_path / "secret").read_text() == "host secret\n"


# --- read-only in a shared process -------------------------------------------------------------


async def create(conn: GoferConnection, name: bytes) -> None:
    root = await conn.attach()
    fid = conn.new_fid()
    await conn.walk(root, [], fid)
    await conn.lcreate(fid, name, os.O_WRONLY, 0o644)


async def test_a_read_only_mount_beside_a_writable_one_is_refused_writes(group, trees) -> None:
    _, (a, b) = group
    await expect_errno(EROFS, create(a, b"new"))
    root = await a.attach()
    await expect_errno(EROFS, a.mkdir(root, b"newdir", 0o755))
    await create(b, b"new")
    assert not (trees[0] / "new").exists() and (trees[1] / "new").exists()


async def test_the_server_itself_refuses_writes_to_a_read_only_mount(nursery: trio.Nursery, trees) -> None:
    """Without confinement (no read-only host mount to fall back on), the server alone refuses."""
    a, b = trees
    served, conns = [], []
    for path, writable in ((a, False), (b, True)):
        ours, theirs = socket.socketpair()
        served.append((theirs, os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), writable))
        conns.append(GoferConnection(ours))
    done = trio.Event()

    async def serve() -> None:
        await trio.to_thread.run_sync(serve_mounts, served, abandon_on_cancel=True)
        done.set()

    nursery.start_soon(serve)
    for conn in conns:
        await nursery.start(conn.run)
    await expect_errno(EROFS, create(conns[0], b"new"))
    await create(conns[1], b"new")
    assert not (a / "new").exists() and (b / "new").exists()
    for conn in conns:
        await conn.aclose()
    with trio.fail_after(10):
        await done.wait()  # every connection saw EOF
    for _, fd, _ in served:
        os.close(fd)


# --- a gofer dies -------------------------------------------------------------------------------


async def test_a_dead_gofer_fails_every_mount_it_served_with_eio(group) -> None:
    process, conns = group
    roots = [await conn.attach() for conn in conns]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    for conn, root in zip(conns, roots):
        with trio.fail_after(30):  # (a hang would fail here, not hang the suite)
            await expect_errno(EIO, conn.walk(root, [b"mine"], conn.new_fid()))


async def test_with_spares_every_mount_of_a_dead_gofer_moves_to_one_spare(
        nursery: trio.Nursery, trees: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPARES_VARIABLE, "1")
    a, b = trees
    process, conns = await started(nursery, [(a, False), (b, True)])
    roots = [await conn.attach() for conn in conns]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    for conn, root, name in zip(conns, roots, (b"a\n", b"b\n")):
        with trio.fail_after(30):
            while True:  # calls in flight as it died fail with EIO; the next ones reach the spare
                try:
                    fid = conn.new_fid()
                    await conn.walk(root, [b"mine"], fid)
                    break
                except Errno as error:
                    assert error.errno == EIO
                    await trio.sleep(0.01)
        await conn.lopen(fid, os.O_RDONLY)
        assert await conn.read(fid, 0, 100) == name
    spares = {id(spare) for conn in conns for spare in conn.processes()}  # type: ignore[attr-defined]
    assert len(spares) == 1  # both mounts moved to the same spare process
    for conn in conns:
        await conn.aclose()
    for spare in {id(s): s for conn in conns for s in conn.processes()}.values():  # type: ignore[attr-defined]
        assert spare.wait(timeout=10) is not None


# --- the bound ----------------------------------------------------------------------------------


def test_prestarted_gofers_group_the_volumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.gofer_proxy.actor.MOUNTS_PER_GOFER", 3)
    image = tmp_path / "image"
    image.mkdir()
    mounts = []
    for i in range(10):
        (tmp_path / f"v{i}").mkdir()
        mounts.append(MountSpec(f"/v{i}", "bind", str(tmp_path / f"v{i}"), read_only=i % 2 == 0))
    prestarted = PrestartedGofers.start(KernelConfig(image=str(image), argv=[b"/true"], env=[], mounts=mounts))
    ready = prestarted.take()
    try:
        assert set(ready) == {(str(image), False, True)} | {(m.source, not m.read_only, True) for m in mounts}
        processes = {process.pid: process for process, _ in ready.values()}
        # The image's gofer and 2 read-only volumes; 3 read-only; the 5 writable ones in 3 + 2.
        assert len(processes) == 4
        assert ready[(str(image), False, True)][0] is ready[(mounts[0].source, False, True)][0]
    finally:
        PrestartedGofers(ready).close()
    assert all(process.returncode is not None for process in processes.values())


def sentrio_gofers(sentry: int) -> list[int]:
    """The gofer processes a Sentry started (its descendants running ``-m gofer``)."""
    found = []
    for pid in process_tree(sentry):
        argv = process_args(pid)
        if "gofer" in argv and "-m" in argv:
            found.append(pid)
    return found


def test_two_hundred_volumes_take_a_bounded_number_of_gofers(tmp_path: Path) -> None:
    from kernel.images.build import build_busybox
    from services.gofer_proxy.actor import MOUNTS_PER_GOFER

    image = tmp_path / "image"
    build_busybox(image)
    args = []
    for i in range(200):
        volume = tmp_path / f"v{i}"
        volume.mkdir()
        (volume / "name").write_text(f"volume {i}\n")
        args += ["-v", f"{volume}:/v/{i}" + (":ro" if i % 2 == 0 else "")]
    script = (
        "i=0; while [ $i -lt 200 ]; do cat /v/$i/name; "
        "if echo written > /v/$i/new 2>/dev/null; then echo rw $i; else echo ro $i; fi; i=$((i+1)); done; "
        "echo ready; read line; echo done")
    command = [sys.executable, "-m", "kernel", "run", "-i", *args, str(image), "--", "sh", "-c", script]
    pipe = subprocess.PIPE
    sentry = subprocess.Popen(command, cwd=PROJECT, stdin=pipe, stdout=pipe, stderr=pipe)
    try:
        assert sentry.stdout is not None and sentry.stdin is not None
        lines = []
        while (line := sentry.stdout.readline()) not in (b"ready\n", b""):
            lines.append(line.decode())
        gofers = sentrio_gofers(sentry.pid)
        sentry.stdin.write(b"\n")
        sentry.stdin.flush()
        out, err = sentry.communicate(timeout=120)
    finally:
        if sentry.poll() is None:
            sentry.kill()
            sentry.wait()
    assert sentry.returncode == 0, err
    assert out == b"done\n"
    assert "".join(lines) == "".join(f"volume {i}\n{'rw' if i % 2 else 'ro'} {i}\n" for i in range(200))
    assert len(gofers) <= 2 + math.ceil(200 / MOUNTS_PER_GOFER)
    assert len(gofers) == 2  # the image's with the 100 read-only volumes; the 100 writable ones
    for i in range(200):
        new = tmp_path / f"v{i}" / "new"
        assert (new.read_text() == "written\n") if i % 2 else not new.exists()
