"""The ptrace platform: guest address spaces are forks of a pristine, traced template stub.

Start-up (once per sandbox):

1. write the stub ELF (:mod:`platforms.ptrace.stub`) into a memfd;
2. fork; the child leaves our session (terminal signals are for the Sentry, which forwards
   them), keeps only the memory file (as fd :data:`MEMFILE_FD`), makes the sandbox's namespaces
   and pivots into its empty root (:func:`kernel.confine.namespaces.make_sandbox`: nobody, no
   capabilities, no_new_privs, cwd ``/``), sets a parent-death signal, asks to be traced and
   execs the stub;
3. at the exec stop, set ``PTRACE_O_EXITKILL`` (no stub outlives the Sentry, however it dies),
   ``TRACESYSGOOD`` and ``TRACEFORK``/``TRACECLONE`` (children of stubs are traced from birth);
4. inject the template's own set-up: name it, unmap everything but the stub page and the
   host's vDSO (its stack), move the vDSO with its data pages to :data:`VDSO_AREA` (a fixed
   place below the stub page, the same in every address space), ignore SIGCHLD (its forked
   children are reaped by the host once we have waited for them), and install the seccomp
   filter.

The vDSO is the host kernel's own: guest code reads the clocks through it without a system
call, as it does on Linux (and as gVisor's vDSO lets it). A clock it cannot read so, and the
vDSO's fallback, is a ``syscall`` instruction: under ``PTRACE_SYSEMU`` it traps to the Sentry
like any other.

A new address space is an injected ``fork`` of the template; the child gets its own
parent-death signal and becomes that address space's control thread.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import trio

from abi.linux import PROT_EXEC, PROT_READ, PROT_WRITE
from kernel.confine.namespaces import ConfinementError, make_sandbox, open_channel, report_failure, serve_child
from kernel.errors import SentryError
from platforms.ptrace.address_space import PtraceAddressSpace
from platforms.ptrace.binding import (
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    PTRACE_O_EXITKILL,
    PTRACE_O_TRACECLONE,
    PTRACE_O_TRACEFORK,
    PTRACE_O_TRACESYSGOOD,
    PTRACE_SETOPTIONS,
    PTRACE_TRACEME,
    prctl,
    ptrace,
)
from platforms.ptrace.placement import CpuPlacement
from platforms import Vdso
from platforms.ptrace.stub import LAYOUT, MEMFILE_FD, STUB_BASE, VDSO_AREA
from platforms.ptrace.thread import StubThread
from platforms.ptrace.waiter import DEFAULT_SPIN_NS, StopWaiter

SYS_RT_SIGACTION = 13
SYS_MUNMAP = 11
SYS_MREMAP = 25
SYS_FORK = 57
SYS_PRCTL = 157
SYS_SECCOMP = 317
SECCOMP_SET_MODE_FILTER = 1
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
_SIGSET_SIZE = 8
#: The host's vDSO and the data pages its code reads, by the names /proc/PID/maps gives them.
_VDSO_NAMES = ("[vvar]", "[vvar_vclock]", "[vdso]")
#: Where the vDSO waits while it moves, when its old place overlaps its new one: empty in a
#: fresh stub, which holds only its page, its stack and the vDSO.
_VDSO_SCRATCH = 0x1000_0000_0000

_OPTIONS = PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE


class PtracePlatform:
    """Runs guest code in ptrace'd stub processes under ``PTRACE_SYSEMU``."""

    max_user_address = VDSO_AREA

    def __init__(self, memfile_fd: int, spin_ns: int = DEFAULT_SPIN_NS, pin_cpus: bool = True,
                 confine: bool = True) -> None:
        """``confine``: stubs live in the sandbox's own namespaces as nobody (False only to debug)."""
        self.waiter = StopWaiter(spin_ns)
        self.placement = CpuPlacement(enabled=pin_cpus)
        self._address_spaces: list[PtraceAddressSpace] = []
        self._closed = False
        self.confined = confine
        self.vdso: Vdso | None = None
        pid = _spawn_template(memfile_fd, confine)
        self._template = StubThread(pid, self.waiter)
        status = self.waiter.wait_blocking(pid)
        if not (os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGTRAP):
            raise SentryError(f"the template stub did not start (wait status {status:#x})")
        ptrace(PTRACE_SETOPTIONS, pid, 0, _OPTIONS)

    @property
    def template_pid(self) -> int:
        return self._template.tid

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the stop reaper; prepare the template before reporting started."""
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.waiter.serve)
                await self._prepare_template()
                task_status.started()
        finally:
            self.close()

    async def _prepare_template(self) -> None:
        template = self._template
        await template.checked_syscall(SYS_PRCTL, PR_SET_NAME, LAYOUT.name)
        mappings = _foreign_mappings(template.tid)
        vdso = [mapping for mapping in mappings if mapping[3] in _VDSO_NAMES]
        for start, end, _, _ in (mapping for mapping in mappings if mapping not in vdso):
            await template.checked_syscall(SYS_MUNMAP, start, end - start)
        self.vdso = await self._move_vdso(vdso)
        await template.checked_syscall(
            SYS_RT_SIGACTION, signal.SIGCHLD, LAYOUT.sigaction_ignore, 0, _SIGSET_SIZE)
        await template.checked_syscall(SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        await template.checked_syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, 0, LAYOUT.fprog)

    async def _move_vdso(self, parts: list[tuple[int, int, int, str]]) -> Vdso | None:
        """Move the vDSO and its data pages to :data:`VDSO_AREA`, keeping their distances (its
        code finds the data relative to itself). None, with all of them unmapped, if the host
        gives no vDSO, it does not fit, or this kernel will not move it."""
        if any(name == "[vdso]" for *_, name in parts):
            start, end = min(start for start, *_ in parts), max(end for _, end, *_ in parts)
            if end - start <= STUB_BASE - VDSO_AREA:
                try:
                    if start < STUB_BASE and end > VDSO_AREA:  # its place overlaps the new one: aside first
                        parts, start = await self._shift(parts, start, _VDSO_SCRATCH), _VDSO_SCRATCH
                    moved = await self._shift(parts, start, VDSO_AREA)
                    return Vdso(next(start for start, *_, name in moved if name == "[vdso]"), tuple(moved))
                except OSError:
                    parts = [mapping for mapping in _foreign_mappings(self._template.tid) if mapping[3] in _VDSO_NAMES]
        for start, end, _, _ in parts:
            await self._template.checked_syscall(SYS_MUNMAP, start, end - start)
        return None

    async def _shift(self, parts: list[tuple[int, int, int, str]], old_base: int,
                     new_base: int) -> list[tuple[int, int, int, str]]:
        """mremap each of ``parts`` from ``old_base`` to ``new_base``; their new places."""
        moved = []
        for start, end, prot, name in parts:
            new_start = start - old_base + new_base
            await self._template.checked_syscall(SYS_MREMAP, start, end - start, end - start,
                                                 MREMAP_MAYMOVE | MREMAP_FIXED, new_start)
            moved.append((new_start, new_start + end - start, prot, name))
        return moved

    async def new_address_space(self) -> PtraceAddressSpace:
        pid = await self._template.checked_syscall(SYS_FORK)
        control = StubThread(pid, self.waiter)
        await control.wait_initial_stop()  # PTRACE_O_EXITKILL ends it with the Sentry; not with the template
        space = PtraceAddressSpace(control, self.placement)
        self._address_spaces = [a for a in self._address_spaces if not a.released]
        self._address_spaces.append(space)
        return space

    def close(self) -> None:
        """Kill every stub. EXITKILL would do it when the Sentry exits; this does it now."""
        if self._closed:
            return
        self._closed = True
        for space in self._address_spaces:
            space.release()
        try:
            os.kill(self._template.tid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.waiter.reap_later(self._template.tid)
        self.waiter.reap_orphans_blocking()


def _spawn_template(memfile_fd: int, confine: bool) -> int:
    """Fork and exec the stub under PTRACE_TRACEME; returns its pid (stopped at exec)."""
    exe = os.memfd_create("sentrio-stub", os.MFD_CLOEXEC)
    ours, theirs = open_channel() if confine else (None, None)
    try:
        os.write(exe, LAYOUT.build_elf())
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: system calls only (no threads to fear: the Sentry has one), then exec
            try:
                _become_stub(exe, memfile_fd, theirs, parent)
            finally:
                os._exit(127)
    finally:
        os.close(exe)
        if theirs is not None:
            os.close(theirs)
    if ours is not None:
        try:
            serve_child(ours, pid)  # writes its user namespace's id maps; returns once it exec'd
        except ConfinementError as error:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise SentryError(f"cannot confine the stubs: {error}") from None
    return pid


def _become_stub(exe: int, memfile_fd: int, channel: int | None, parent: int) -> None:
    os.setsid()
    exe = os.dup(exe) if exe == MEMFILE_FD else exe
    if channel == MEMFILE_FD:
        channel = os.dup(channel)
    if memfile_fd != MEMFILE_FD:
        os.dup2(memfile_fd, MEMFILE_FD)
    os.set_inheritable(MEMFILE_FD, True)
    for fd in _open_fds():
        if fd not in (MEMFILE_FD, exe, channel):
            try:
                os.close(fd)
            except OSError:
                pass
    if channel is not None:
        try:
            make_sandbox(channel)
        except Exception as error:  # noqa: BLE001 — the parent reports it, in one line
            report_failure(channel, error)
            os._exit(126)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the credential change, which clears it
    if os.getppid() != parent:
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    ptrace(PTRACE_TRACEME, 0)
    os.execve(exe, [b"sentrio-stub"], {})


def _open_fds() -> list[int]:
    return [int(name) for name in os.listdir("/proc/self/fd")]


def _foreign_mappings(pid: int) -> list[tuple[int, int, int, str]]:
    """Every mapping of the fresh stub except its own page (stack, vDSO, vvar), as
    (start, end, prot, name)."""
    mappings = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split(None, 5)
            start_s, end_s = fields[0].split("-")
            start, end = int(start_s, 16), int(end_s, 16)
            if start == STUB_BASE or start >= 1 << 47:  # ours, or [vsyscall] (not unmappable)
                continue
            perms = fields[1]
            prot = (PROT_READ if perms[0] == "r" else 0) | (PROT_WRITE if perms[1] == "w" else 0) \
                | (PROT_EXEC if perms[2] == "x" else 0)
            mappings.append((start, end, prot, fields[5].strip() if len(fields) > 5 else ""))
    return mappings
