"""The image's gofer started before the Sentry needs it (kernel.kernel.PrestartedGofers): the
gofer proxy's mount of the image takes it, any other request starts its own, an unused one is
stopped and reaped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kernel.kernel import KernelConfig, PrestartedGofers
from services.gofer_proxy import actor as proxy
from services.gofer_proxy.connection import spawn_gofer


def _stop(process: subprocess.Popen[bytes], conn: object) -> None:
    conn._sock.close()  # type: ignore[attr-defined]  # never ran: the gofer exits at EOF
    process.wait(timeout=30)


def test_the_mount_of_the_image_takes_the_prestarted_gofer(tmp_path: Path) -> None:
    config = KernelConfig(image=str(tmp_path), argv=[b"/true"], env=[])
    prestarted = PrestartedGofers.start(config)
    [(ready_process, ready_conn)] = prestarted._ready.values()
    with prestarted.offered():
        assert proxy.spawn_gofer is not spawn_gofer  # type: ignore[attr-defined]
        process, conn = proxy.spawn_gofer(str(tmp_path), False, donate_fds=True)  # type: ignore[attr-defined]
        assert (process, conn) == (ready_process, ready_conn)
        # the same request again, or another one, starts a gofer of its own
        again, again_conn = proxy.spawn_gofer(str(tmp_path), False, donate_fds=True)  # type: ignore[attr-defined]
        writable, writable_conn = proxy.spawn_gofer(str(tmp_path), True, donate_fds=True)  # type: ignore[attr-defined]
        assert len({process.pid, again.pid, writable.pid}) == 3
    assert proxy.spawn_gofer is spawn_gofer  # type: ignore[attr-defined]
    for each, each_conn in ((process, conn), (again, again_conn), (writable, writable_conn)):
        assert each.poll() is None  # taken gofers are the proxy's to stop, not ours
        _stop(each, each_conn)


def test_a_gofer_nobody_takes_is_stopped_and_reaped(tmp_path: Path) -> None:
    config = KernelConfig(image=str(tmp_path), argv=[b"/true"], env=[], rw=True)
    prestarted = PrestartedGofers.start(config)
    [(process, _)] = prestarted._ready.values()
    with prestarted.offered():
        other, other_conn = proxy.spawn_gofer(str(tmp_path), False, donate_fds=True)  # type: ignore[attr-defined]
        assert other.pid != process.pid  # read-only asked, a writable one was ready
    assert process.returncode is not None  # killed and waited for when the offer ended
    assert prestarted._ready == {}
    prestarted.close()  # nothing left: a second close is harmless
    _stop(other, other_conn)
