"""The image's gofer started before the Sentry needs it (kernel.kernel.PrestartedGofers): the
gofer proxy's mount of the image takes it, any other mount starts its own, and one nobody takes
is stopped and reaped."""

from __future__ import annotations

from pathlib import Path

import trio

from kernel.kernel import KernelConfig, PrestartedGofers
from services.gofer_proxy.actor import GoferProxy


async def test_the_mount_of_the_image_takes_the_prestarted_gofer(tmp_path: Path) -> None:
    prestarted = PrestartedGofers.start(KernelConfig(image=str(tmp_path), argv=[b"/true"], env=[]))
    ready = prestarted.take()
    [(ready_process, _)] = ready.values()
    proxy = GoferProxy(prestarted=ready)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        image = await proxy.mount(str(tmp_path), False)
        assert await proxy.pid(image) == ready_process.pid
        again = await proxy.mount(str(tmp_path), False)  # the same request again starts its own
        writable = await proxy.mount(str(tmp_path), True)
        assert len({ready_process.pid, await proxy.pid(again), await proxy.pid(writable)}) == 3
        await proxy.close()
    assert ready_process.returncode is not None
    prestarted.close()  # nothing left to close: harmless


async def test_a_gofer_nobody_takes_is_stopped_and_reaped(tmp_path: Path) -> None:
    prestarted = PrestartedGofers.start(KernelConfig(image=str(tmp_path), argv=[b"/true"], env=[], rw=True))
    [(process, _)] = prestarted._ready.values()
    prestarted.close()  # e.g. a replaced gofer service took none
    assert process.returncode is not None
    assert prestarted.take() == {}


async def test_a_proxy_reaps_the_prestarted_gofers_it_did_not_use(tmp_path: Path) -> None:
    prestarted = PrestartedGofers.start(KernelConfig(image=str(tmp_path), argv=[b"/true"], env=[]))
    ready = prestarted.take()
    [(process, _)] = ready.values()
    proxy = GoferProxy(io="rpc", prestarted=ready)  # rpc mounts never take a donating gofer
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        mount = await proxy.mount(str(tmp_path), False)
        assert await proxy.pid(mount) != process.pid
        await proxy.close()
    assert process.returncode is not None
