"""abi.seccomp: policies compile to programs that decide exactly as the policy says."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abi.seccomp import (
    ALLOW,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    BPF_JMP_JA,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
    X32_SYSCALL_BIT,
    Arg,
    Entry,
    Policy,
    Rule,
    allow_if,
    clear,
    eq,
    eq32,
    errno_action,
    evaluate,
    instructions,
    masked,
    one_of,
    rules_of,
    sigsys_trampoline,
)
from abi.syscalls import number
from gofer.seccomp import gofer_policy
from kernel.confine.allowlist import IOCTL_REQUESTS, PTRACE_REQUESTS, sentry_entries, sentry_policy

U64 = (1 << 64) - 1


def test_numbers_not_listed_get_the_default_and_listed_ones_their_action() -> None:
    policy = Policy({0: ALLOW, 60: ALLOW, 231: Rule(errno_action(38))}, SECCOMP_RET_TRAP)
    program = policy.compile()
    assert evaluate(program, 0) == SECCOMP_RET_ALLOW
    assert evaluate(program, 60) == SECCOMP_RET_ALLOW
    assert evaluate(program, 231) == errno_action(38)
    assert [evaluate(program, nr) for nr in (1, 59, 61, 230, 232, 500)] == [SECCOMP_RET_TRAP] * 6


def test_a_foreign_architecture_and_the_x32_abi_are_killed() -> None:
    program = Policy({59: ALLOW}, SECCOMP_RET_TRAP).compile()
    assert evaluate(program, 59, arch=AUDIT_ARCH_I386) == SECCOMP_RET_KILL_PROCESS
    assert evaluate(program, 59 | X32_SYSCALL_BIT) == SECCOMP_RET_KILL_PROCESS
    assert evaluate(program, 59, arch=AUDIT_ARCH_X86_64) == SECCOMP_RET_ALLOW


def test_argument_patterns_compare_64_bits_or_the_low_32() -> None:
    policy = Policy({
        1: allow_if(eq(0, -100)),                  # all 64 bits: AT_FDCWD as the kernel sees it
        2: allow_if(eq32(1, 0x5401)),              # an int: the upper half is ignored
        3: allow_if(clear(2, 0x4)),                # PROT_EXEC clear
        4: allow_if((eq32(0, 7), eq32(2, 12)), eq32(2, 31)),  # either pattern
    }, SECCOMP_RET_TRAP)
    program = policy.compile()
    cases = [
        (1, (U64 - 99,)), (1, (0xFFFF_FF9C,)),
        (2, (0, 0x5401)), (2, (0, 0xDEAD_0000_0000_5401)), (2, (0, 0x5412)),
        (3, (0, 0, 3)), (3, (0, 0, 7)), (3, (0, 0, 0x1_0000_0003)),
        (4, (7, 0, 12)), (4, (8, 0, 12)), (4, (8, 0, 31)), (4, (7, 0, 13)),
    ]
    for nr, args in cases:
        full = tuple(args) + (0,) * (6 - len(args))
        assert evaluate(program, nr, full) == policy.decide(nr, full), (nr, args)
    assert evaluate(program, 1, (0xFFFF_FF9C,) + (0,) * 5) == SECCOMP_RET_TRAP  # not -100 as 64 bits
    assert evaluate(program, 2, (0, 0xDEAD_0000_0000_5401) + (0,) * 4) == SECCOMP_RET_ALLOW
    assert evaluate(program, 3, (0, 0, 7) + (0,) * 3) == SECCOMP_RET_TRAP


_args = st.tuples(*[st.one_of(st.integers(0, U64), st.sampled_from([0, 1, 4, 12, 31, 0x5401, U64]))] * 6)
_arg = st.builds(Arg, st.integers(0, 5), st.just(0), st.integers(0, U64)) | st.builds(
    lambda i, v: eq32(i, v), st.integers(0, 5), st.sampled_from([0, 1, 4, 12, 31, 0x5401]))
_rule = st.one_of(st.just(ALLOW), st.builds(lambda ps: Rule(SECCOMP_RET_ALLOW, tuple(ps)),
                                             st.lists(st.lists(_arg, min_size=1, max_size=3).map(tuple),
                                                      min_size=1, max_size=6)))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 460), _rule, min_size=1, max_size=90), st.integers(0, 470), _args)
def test_the_compiled_program_decides_as_the_policy(rules: dict[int, Rule], nr: int, args: tuple[int, ...]) -> None:
    policy = Policy(rules, SECCOMP_RET_TRAP)
    program = policy.compile()
    for call in {nr, *list(rules)[:5]}:
        assert evaluate(program, call, args) == policy.decide(call, args)


def test_a_long_list_is_searched_not_scanned() -> None:
    policy = Policy({nr: ALLOW for nr in range(0, 400, 2)}, SECCOMP_RET_TRAP)
    program = policy.compile()
    assert any(code == BPF_JMP_JA for code, *_ in instructions(program))  # the tree's long jumps
    executed = _steps(program, 398)
    assert executed < 30, executed  # about 2·log2(200), not 200


def _steps(program: bytes, nr: int) -> int:
    """How many instructions the interpreter runs for ``nr`` (a copy of evaluate's loop)."""
    code = instructions(program)
    data = struct.pack("<iIQ6Q", nr, AUDIT_ARCH_X86_64, 0, *([0] * 6))
    pc = acc = steps = 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        steps += 1
        if op == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == 0x06:
            return steps
        elif op == BPF_JMP_JA:
            pc += k
        else:
            pc += jt if {0x15: acc == k, 0x35: acc >= k}[op] else jf


def test_impossible_patterns_and_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="never match"):
        masked(0, 0xFF, 0x100)
    with pytest.raises(ValueError, match="arguments 0-5"):
        eq(6, 0)
    with pytest.raises(ValueError, match="listed twice"):
        rules_of([Entry("read", "a"), Entry("read", "b")], number)
    with pytest.raises(ValueError, match="needs at least one pattern"):
        allow_if()


def test_the_sentry_allowlist_filters_ptrace_ioctl_mmap_and_signals() -> None:
    pid = 4242
    policy = sentry_policy(pid)
    program = policy.compile()
    nr = number

    def decide(name: str, *args: int) -> int:
        return evaluate(program, nr(name), tuple(args) + (0,) * (6 - len(args)))

    for request in PTRACE_REQUESTS:
        assert decide("ptrace", request, 123) == SECCOMP_RET_ALLOW
    for request in (16, 0x4206, 0):  # PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME
        assert decide("ptrace", request, 1) == SECCOMP_RET_TRAP
    for request in IOCTL_REQUESTS:
        assert decide("ioctl", 0, request) == SECCOMP_RET_ALLOW
    assert decide("ioctl", 0, 0x5412) == SECCOMP_RET_TRAP  # TIOCSTI
    assert decide("mmap", 0, 4096, 3, 1, 4, 0) == SECCOMP_RET_ALLOW
    assert decide("mmap", 0, 4096, 7, 0x22, U64, 0) == SECCOMP_RET_TRAP  # executable memory
    assert decide("mprotect", 0, 4096, 5) == SECCOMP_RET_TRAP  # executable memory
    assert decide("mprotect", 0, 4096, 3) == SECCOMP_RET_ALLOW  # a thread arena growing
    assert decide("kill", 99, 9) == SECCOMP_RET_ALLOW
    assert decide("kill", 99, 15) == SECCOMP_RET_TRAP
    assert decide("tgkill", 99, 100, 12) == SECCOMP_RET_ALLOW  # interrupting a stub thread
    assert decide("tgkill", pid, pid, 31) == SECCOMP_RET_ALLOW  # SIGSYS to itself
    assert decide("tgkill", 99, 99, 31) == SECCOMP_RET_TRAP
    for name in ("execve", "execveat", "fork", "vfork", "clone", "socket", "connect", "bind", "unshare",
                 "setns", "mount", "pivot_root", "chroot", "process_vm_readv", "process_vm_writev",
                 "open_by_handle_at", "bpf", "io_uring_setup", "userfaultfd", "setuid", "capset", "prctl",
                 "clone3"):
        assert decide(name) == SECCOMP_RET_TRAP, name
    assert decide("prlimit64", 0, 7, 0, 0x1000) == SECCOMP_RET_ALLOW  # getrlimit
    assert decide("prlimit64", 0, 7, 0x1000, 0) == SECCOMP_RET_TRAP  # setrlimit
    assert decide("prlimit64", 99, 7, 0, 0x1000) == SECCOMP_RET_TRAP  # another process's


def test_every_allowlist_entry_says_why() -> None:
    from gofer.seccomp import gofer_entries

    for entry in sentry_entries(1) + gofer_entries(writable=True, pid=1):
        assert entry.why.strip() and entry.why.strip() != entry.name, entry


def test_the_read_only_gofer_cannot_create_or_write() -> None:
    ro = gofer_policy(writable=False, pid=7).compile()
    rw = gofer_policy(writable=True, pid=7).compile()
    o_creat_wronly = 0o101
    for name in ("mkdirat", "unlinkat", "renameat2", "pwrite64", "fchownat", "ftruncate"):
        assert evaluate(ro, number(name)) == SECCOMP_RET_TRAP
        assert evaluate(rw, number(name)) == SECCOMP_RET_ALLOW
    assert evaluate(ro, number("openat"), (3, 0, o_creat_wronly, 0, 0, 0)) == SECCOMP_RET_TRAP
    assert evaluate(ro, number("openat"), (3, 0, 0o10400000, 0, 0, 0)) == SECCOMP_RET_ALLOW  # O_PATH|O_NOFOLLOW
    assert evaluate(rw, number("openat"), (3, 0, o_creat_wronly, 0, 0, 0)) == SECCOMP_RET_ALLOW
    assert evaluate(ro, number("kill"), (7, 31, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW
    assert evaluate(ro, number("kill"), (8, 9, 0, 0, 0, 0)) == SECCOMP_RET_TRAP


@pytest.mark.parametrize("pid", [1, 7, 4242, 99_999, 4_194_303])
def test_a_compiled_template_given_a_pid_is_the_filter_compiled_for_it(pid: int) -> None:
    """The zygote compiles each filter once with a placeholder pid; each process then puts its
    own in. That must be, byte for byte, the filter compiled for the process."""
    from gofer.seccomp import TEMPLATES
    from kernel.confine.allowlist import SENTRY_TEMPLATE
    from netgate.seccomp import TEMPLATE, netgate_policy

    assert SENTRY_TEMPLATE.program(pid) == sentry_policy(pid).compile()
    assert TEMPLATE.program(pid) == netgate_policy(pid).compile()
    for writable, template in TEMPLATES.items():
        assert template.program(pid) == gofer_policy(writable=writable, pid=pid).compile()
        assert evaluate(template.program(pid), number("kill"), (pid, 31, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW
        assert evaluate(template.program(pid), number("kill"), (pid + 1, 9, 0, 0, 0, 0)) == SECCOMP_RET_TRAP


def test_the_sigsys_trampoline_stores_the_number_and_jumps_on() -> None:
    code = sigsys_trampoline(0x1122_3344_5566_7788, 0x0102_0304_0506_0708)
    assert code.startswith(bytes.fromhex("837e0801"))                   # cmp dword [rsi+8], SYS_SECCOMP
    assert code[4] == 0x75 and code[6 + code[5]:].startswith(bytes.fromhex("48b8"))  # jne to the chain
    assert bytes.fromhex("8b4618") in code                               # mov eax, [rsi+0x18]
    assert struct.pack("<Q", 0x1122_3344_5566_7788) in code
    assert bytes.fromhex("48c78290000000") + struct.pack("<i", -38) in code  # mov qword [rdx+0x90], -ENOSYS
    assert code.endswith(bytes.fromhex("ffe0"))                          # jmp rax
    assert struct.pack("<Q", 0x0102_0304_0506_0708) in code


def test_one_of_lists_each_value_once() -> None:
    assert one_of(1, [3, 1, 3]) == ((eq32(1, 1),), (eq32(1, 3),))


def test_a_stub_may_make_host_calls_only_from_its_gadget() -> None:
    from platforms.ptrace.stub import LAYOUT

    program = LAYOUT._filter_program()
    assert evaluate(program, 9, ip=LAYOUT.after_syscall) == SECCOMP_RET_ALLOW
    for ip in (LAYOUT.after_syscall + 1, LAYOUT.after_syscall ^ 1 << 40, 0x401000):
        assert evaluate(program, 9, ip=ip) == SECCOMP_RET_KILL_PROCESS
    assert evaluate(program, 9, ip=LAYOUT.after_syscall, arch=AUDIT_ARCH_I386) == SECCOMP_RET_KILL_PROCESS
