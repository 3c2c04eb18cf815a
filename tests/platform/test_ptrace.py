"""The ptrace platform on its own: stubs, traps, faults, injections, seccomp, no leftovers.

Guest code here is a few hand-assembled instructions placed in the memory file, so these tests
need no ELF loader and no memory manager.
"""

from __future__ import annotations

import mmap
import os
import signal
from collections.abc import AsyncIterator

import pytest
import trio

from abi.linux import PROT_EXEC, PROT_READ, PROT_WRITE, SEGV_ACCERR, SEGV_MAPERR, Signal
from platforms import StopReason
from platforms.ptrace.platform import PtracePlatform
from platforms.ptrace.stub import LAYOUT, STUB_BASE, VDSO_AREA

CODE = 0x400000
DATA = 0x500000
# mov eax, 110 (getppid); syscall; jmp back to the mov
GETPPID_LOOP = bytes.fromhex("b86e000000" "0f05" "ebf7")
# getppid; then getpid with the first result as its argument (mov edi, eax); loop
ECHO_RESULT = bytes.fromhex("b86e000000" "0f05" "89c7" "b827000000" "0f05" "ebee")
# mov dword [0x500000], 1; hlt-free end: syscall (exit) afterwards
WRITE_DATA = bytes.fromhex("c7042500005000" "01000000" "0f05")
# syscall as the host would execute it: used with PTRACE_CONT to test the seccomp filter
BARE_SYSCALL = bytes.fromhex("0f05")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ptrace tests run as root")


class Sandbox:
    def __init__(self, platform: PtracePlatform, memory: mmap.mmap) -> None:
        self.platform = platform
        self.memory = memory


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the platform blocks SIGCHLD; put it back after
    fd = os.memfd_create("test-memory", os.MFD_CLOEXEC)
    os.ftruncate(fd, 1 << 24)
    memory = mmap.mmap(fd, 1 << 24)
    platform = PtracePlatform(fd, pin_cpus=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(platform.serve)
        yield Sandbox(platform, memory)
        nursery.cancel_scope.cancel()
    platform.close()
    memory.close()
    os.close(fd)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


async def _thread_running(sandbox: Sandbox, code: bytes, prot: int = PROT_READ | PROT_EXEC):  # type: ignore[no-untyped-def]
    sandbox.memory[0:len(code)] = code
    space = await sandbox.platform.new_address_space()
    await space.map(CODE, 4096, prot, 0)
    context = await space.new_context()
    context.regs.rip = CODE
    context.regs_changed()
    return space, context


async def test_syscalls_trap_without_reaching_the_host(sandbox: Sandbox) -> None:
    space, context = await _thread_running(sandbox, ECHO_RESULT)
    for answer in range(4242, 4342):
        assert await context.switch() == StopReason.SYSCALL
        assert context.regs.orig_rax == 110
        context.set_return(answer)  # the host never ran getppid: the guest sees our answer
        assert await context.switch() == StopReason.SYSCALL
        assert (context.regs.orig_rax, context.regs.rdi) == (39, answer)
    space.release()


async def test_faults_come_back_with_their_siginfo(sandbox: Sandbox) -> None:
    space, context = await _thread_running(sandbox, WRITE_DATA)
    assert await context.switch() == StopReason.FAULT
    assert context.fault is not None
    assert (context.fault.signo, context.fault.code, context.fault.addr) == (Signal.SIGSEGV, SEGV_MAPERR, DATA)
    await space.map(DATA, 4096, PROT_READ, 4096)
    assert await context.switch() == StopReason.FAULT
    assert (context.fault.signo, context.fault.code) == (Signal.SIGSEGV, SEGV_ACCERR)
    await space.protect(DATA, 4096, PROT_READ | PROT_WRITE)
    assert await context.switch() == StopReason.SYSCALL
    assert sandbox.memory[4096] == 1  # the guest's store landed in the memory file
    space.release()


async def test_a_stub_holds_only_its_page_the_vdso_and_guest_mappings(sandbox: Sandbox) -> None:
    space, _ = await _thread_running(sandbox, GETPPID_LOOP)
    with open(f"/proc/{space.pid}/maps") as maps:
        rows = [line.split() for line in maps]
    vdso = sandbox.platform.vdso
    assert vdso is not None and vdso.mappings[0][0] == VDSO_AREA
    assert [(int(row[0].split("-")[0], 16), row[5] if len(row) > 5 and row[5].startswith("[") else "")
            for row in rows if int(row[0].split("-")[0], 16) < 1 << 47] == \
        [(CODE, ""), *((start, name) for start, _, _, name in vdso.mappings), (STUB_BASE, "")]
    assert "[vdso]" in (name for *_, name in vdso.mappings)
    fds = os.listdir(f"/proc/{space.pid}/fd")
    assert fds == ["3"]  # the memory file, nothing else
    with open(f"/proc/{space.pid}/comm") as comm:
        assert comm.read().strip() == "sentrio-stub"
    space.release()


async def test_injections_from_many_tasks_take_turns(sandbox: Sandbox) -> None:
    """Guest threads of one address space share its control thread: their injected calls (an
    mmap and an munmap each, from four tasks at once) run one at a time, each with its own
    arguments and result, whether the lock was free or not."""
    space, _ = await _thread_running(sandbox, GETPPID_LOOP)
    pages = 32

    async def churn(task: int) -> None:
        for round_ in range(pages):
            address = DATA + (task * pages + round_) * 2 * 4096
            await space.map(address, 4096, PROT_READ | PROT_WRITE, 4096 * (1 + task))
            if round_ % 2:
                await space.unmap(address, 4096)

    async with trio.open_nursery() as nursery:
        for task in range(4):
            nursery.start_soon(churn, task)
    with open(f"/proc/{space.pid}/maps") as maps:
        starts = {int(line.split("-")[0], 16) for line in maps}
    for task in range(4):
        for round_ in range(pages):
            address = DATA + (task * pages + round_) * 2 * 4096
            assert (address in starts) == (round_ % 2 == 0), (task, round_)
    space.release()


async def test_seccomp_kills_a_host_syscall_from_outside_the_gadget(sandbox: Sandbox) -> None:
    """Defence in depth: if ptrace ever let a guest syscall through, the filter kills the stub."""
    from platforms.ptrace.binding import PTRACE_CONT, ptrace

    space, context = await _thread_running(sandbox, BARE_SYSCALL)
    context.regs.rax = 39  # getpid: harmless, but not from the gadget
    context.regs_changed()
    assert await context.switch() == StopReason.SYSCALL  # under SYSEMU it only traps
    context.regs.rip = CODE
    context.regs_changed()
    from platforms.ptrace.binding import PTRACE_SETREGS

    ptrace(PTRACE_SETREGS, context.tid, 0, context._thread.regs_addr)  # type: ignore[attr-defined]
    ptrace(PTRACE_CONT, context.tid)  # now the host would execute it
    status = await sandbox.platform.waiter.wait(context.tid)
    while os.WIFSTOPPED(status):  # the seccomp SIGSYS may be reported as a stop first
        ptrace(PTRACE_CONT, context.tid, 0, os.WSTOPSIG(status))
        status = await sandbox.platform.waiter.wait(context.tid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == Signal.SIGSYS
    assert LAYOUT.gadget != CODE
    space.release()


async def test_threads_of_one_address_space_share_memory(sandbox: Sandbox) -> None:
    space, first = await _thread_running(sandbox, GETPPID_LOOP)
    second = await space.new_context()
    second.regs.rip = CODE
    second.regs_changed()
    assert second.tid != first.tid
    assert await first.switch() == StopReason.SYSCALL
    assert await second.switch() == StopReason.SYSCALL
    with open(f"/proc/{space.pid}/status") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    assert threads == 3  # control thread + two guest threads
    second.release()
    assert await first.switch() == StopReason.SYSCALL
    space.release()


async def test_fp_state_round_trips(sandbox: Sandbox) -> None:
    space, context = await _thread_running(sandbox, GETPPID_LOOP)
    assert await context.switch() == StopReason.SYSCALL
    state = bytearray(context.get_fp_state())
    assert len(state) >= 512  # at least the legacy FXSAVE area
    state[160:176] = bytes(range(16))  # xmm0 in the legacy area
    state[512] |= 0b10  # XSAVE header xstate_bv: the SSE component is in use
    context.set_fp_state(bytes(state))
    assert context.get_fp_state()[160:176] == bytes(range(16))
    # An image larger than any XSAVE area is refused before it is copied into the scratch
    # buffer every context shares, and the thread keeps its state.
    with pytest.raises(OSError):
        context.set_fp_state(bytes(state) + bytes(1 << 16))
    assert context.get_fp_state()[160:176] == bytes(range(16))
    space.release()


async def test_a_new_thread_takes_its_creators_fp_state(sandbox: Sandbox) -> None:
    """copy_fp_state_from hands the image over through the scratch buffer: the new thread ends
    up with the creator's registers, the creator keeps them; a dead creator gives the init
    state's zeros, as get_fp_state does."""
    space, first = await _thread_running(sandbox, GETPPID_LOOP)
    assert await first.switch() == StopReason.SYSCALL
    state = bytearray(first.get_fp_state())
    state[160:176] = bytes(range(16))  # xmm0
    state[512] |= 0b10  # the SSE component is in use
    first.set_fp_state(bytes(state))
    second = await space.new_context()
    assert second.get_fp_state()[160:176] != bytes(range(16))
    second.copy_fp_state_from(first)
    assert second.get_fp_state()[160:176] == bytes(range(16))
    assert first.get_fp_state() == bytes(state[:len(first.get_fp_state())])
    first.release()
    third = await space.new_context()
    third.copy_fp_state_from(first)  # released: nothing to copy, zeros loaded (MXCSR 0 is valid)
    assert third.get_fp_state()[160:176] == bytes(16)
    space.release()


async def test_killed_stub_reports_died(sandbox: Sandbox) -> None:
    space, context = await _thread_running(sandbox, GETPPID_LOOP)
    assert await context.switch() == StopReason.SYSCALL
    os.kill(space.pid, 9)
    assert await context.switch() == StopReason.DIED
    space.release()
