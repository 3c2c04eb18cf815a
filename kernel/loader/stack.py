"""The initial process stack of an x86-64 ELF program, byte for byte as Linux builds it.

Pure computation: :func:`build_initial_stack` returns the bytes of the region just below the
stack top, and the caller copies them into the new address space and starts the thread with
``rsp = sp``. The layout follows fs/exec.c (strings copied by execve, top down) and
fs/binfmt_elf.c ``create_elf_tables`` (platform string, random bytes, then argc, argv, envp and
the auxiliary vector at a 16-byte aligned sp), so a program sees the same stack it would see
natively with ASLR off, given the same stack top.

From the top down::

    stack_top - 8   NULL word (bprm->p starts one pointer below the top)
                    execfn string (AT_EXECFN)
                    envp strings, last one highest
                    argv strings, argv[0] lowest          <- arg_start
                    padding to 16 bytes
                    platform string "x86_64" (AT_PLATFORM)
                    16 random bytes (AT_RANDOM)
                    padding so that sp is 16-byte aligned
                    auxv pairs ending with (AT_NULL, 0)
                    NULL, envp pointers
                    NULL, argv pointers
    sp ->           argc
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from abi.linux import (
    AT_BASE,
    AT_CLKTCK,
    AT_EGID,
    AT_ENTRY,
    AT_EUID,
    AT_EXECFD,
    AT_EXECFN,
    AT_FLAGS,
    AT_GID,
    AT_HWCAP,
    AT_HWCAP2,
    AT_MINSIGSTKSZ,
    AT_NULL,
    AT_PAGESZ,
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_PLATFORM,
    AT_RANDOM,
    AT_RSEQ_ALIGN,
    AT_RSEQ_FEATURE_SIZE,
    AT_SECURE,
    AT_SYSINFO_EHDR,
    AT_UID,
    PAGE_SIZE,
    USER_HZ,
)
from abi.errno import Errno

#: Longest single argument or environment string, NUL included (include/uapi/linux/binfmts.h).
MAX_ARG_STRLEN = 32 * PAGE_SIZE
#: Argument space always allowed, however small the stack rlimit (ARG_MAX in the kernel).
ARG_MAX = 32 * PAGE_SIZE
#: The kernel's default stack rlimit (_STK_LIM); arguments never get more than 3/4 of it.
STK_LIM = 8 << 20
#: Bytes of AT_RANDOM data.
RANDOM_BYTES = 16

_WORD = 8
_WORDS_CACHE: dict[int, struct.Struct] = {}
#: Entries whose values are stack addresses: build_initial_stack supplies them.
_STACK_KEYS = frozenset({AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL})
#: Entries Linux emits after AT_EXECFN/AT_PLATFORM.
_AFTER_EXECFN = frozenset({AT_EXECFD, AT_RSEQ_FEATURE_SIZE, AT_RSEQ_ALIGN})


@dataclass(slots=True, frozen=True)
class InitialStack:
    """The bytes of [start, stack_top) and where things are in them.

    ``start == sp``: the region begins at argc. The ``arg_*``/``env_*`` bounds are the kernel's
    mm->arg_start..env_end (what /proc/PID/cmdline and /proc/PID/environ read); ``auxv`` is the
    vector as written, AT_NULL pair included (what /proc/PID/auxv shows).
    """

    sp: int
    start: int
    data: bytes
    arg_start: int
    arg_end: int
    env_start: int
    env_end: int
    auxv: tuple[tuple[int, int], ...]


def linux_auxv(*, hwcap: int, phdr: int, phent: int, phnum: int, entry: int,
               uid: int, euid: int, gid: int, egid: int,
               pagesz: int = PAGE_SIZE, clktck: int = USER_HZ, base: int = 0, flags: int = 0,
               secure: int = 0, hwcap2: int | None = None, sysinfo_ehdr: int | None = None,
               minsigstksz: int | None = None, execfd: int | None = None,
               rseq_feature_size: int | None = None, rseq_align: int | None = None,
               ) -> list[tuple[int, int]]:
    """The auxiliary vector in create_elf_tables' order, without the stack-address entries.

    ``None`` leaves an optional entry out (Linux omits AT_SYSINFO_EHDR without a vDSO, AT_EXECFD
    unless binfmt_misc asked, AT_RSEQ_* without CONFIG_RSEQ). AT_RANDOM, AT_EXECFN, AT_PLATFORM
    and AT_NULL are added by :func:`build_initial_stack`, which knows their addresses.
    """
    head = [(AT_SYSINFO_EHDR, sysinfo_ehdr), (AT_MINSIGSTKSZ, minsigstksz)]
    fixed = [(AT_HWCAP, hwcap), (AT_PAGESZ, pagesz), (AT_CLKTCK, clktck), (AT_PHDR, phdr),
             (AT_PHENT, phent), (AT_PHNUM, phnum), (AT_BASE, base), (AT_FLAGS, flags),
             (AT_ENTRY, entry), (AT_UID, uid), (AT_EUID, euid), (AT_GID, gid), (AT_EGID, egid),
             (AT_SECURE, secure), (AT_HWCAP2, hwcap2), (AT_EXECFD, execfd),
             (AT_RSEQ_FEATURE_SIZE, rseq_feature_size), (AT_RSEQ_ALIGN, rseq_align)]
    return [(key, value) for key, value in head + fixed if value is not None]


def _place_stack_entries(auxv: list[tuple[int, int]], random_addr: int, execfn_addr: int,
                         platform_addr: int | None) -> list[tuple[int, int]]:
    """Insert AT_RANDOM, AT_EXECFN and AT_PLATFORM where Linux writes them, then AT_NULL.

    AT_RANDOM follows AT_SECURE; AT_EXECFN and AT_PLATFORM come after AT_HWCAP2, before
    AT_EXECFD and the AT_RSEQ_* pair.
    """
    out = list(auxv)
    tail = next((i for i, (key, _) in enumerate(out) if key in _AFTER_EXECFN), len(out))
    named = [(AT_EXECFN, execfn_addr)]
    if platform_addr is not None:
        named.append((AT_PLATFORM, platform_addr))
    out[tail:tail] = named
    keys = [key for key, _ in out]
    if AT_SECURE in keys:
        at = keys.index(AT_SECURE) + 1
    elif AT_HWCAP2 in keys[:tail]:
        at = keys.index(AT_HWCAP2)
    else:
        at = tail
    out.insert(at, (AT_RANDOM, random_addr))
    out.append((AT_NULL, 0))
    return out


def _check_strings(strings: list[bytes], ptr_count: int, stack_limit: int) -> None:
    """Linux's E2BIG rules (fs/exec.c): per string, and strings + pointers against the rlimit.

    Strings may use a quarter of the stack rlimit, never more than 3/4 of _STK_LIM and never
    less than ARG_MAX, minus the argv/envp pointers.
    """
    for s in strings:
        if 0 in s:
            raise ValueError("argument strings cannot contain NUL")
        if len(s) + 1 > MAX_ARG_STRLEN:
            raise Errno(errno.E2BIG)
    limit = max(min(STK_LIM // 4 * 3, stack_limit // 4), ARG_MAX)
    ptr_size = ptr_count * _WORD
    if limit <= ptr_size or sum(len(s) + 1 for s in strings) > limit - ptr_size:
        raise Errno(errno.E2BIG)


def _words(count: int) -> struct.Struct:
    """A cached little-endian struct of ``count`` u64 words."""
    packer = _WORDS_CACHE.get(count)
    if packer is None:
        packer = _WORDS_CACHE[count] = struct.Struct(f"<{count}Q")
    return packer


class _Builder:
    """A downward-growing byte image of the stack: ``put`` places bytes below the last ones."""

    __slots__ = ("top", "p", "_chunks")

    def __init__(self, top: int) -> None:
        self.top = top
        self.p = top
        self._chunks: list[tuple[int, bytes]] = []

    def put(self, data: bytes) -> int:
        self.p -= len(data)
        self._chunks.append((self.p, data))
        return self.p

    def image(self, start: int) -> bytes:
        buf = bytearray(self.top - start)
        for addr, data in self._chunks:
            buf[addr - start:addr - start + len(data)] = data
        return bytes(buf)


def build_initial_stack(stack_top: int, argv: list[bytes], envp: list[bytes], execfn: bytes,
                        auxv: list[tuple[int, int]], random_bytes: bytes,
                        platform: bytes = b"x86_64", stack_limit: int = STK_LIM,
                        ) -> InitialStack:
    """Lay out argc, argv, envp, auxv and their strings below ``stack_top``.

    ``auxv`` comes from :func:`linux_auxv` (no AT_RANDOM/AT_EXECFN/AT_PLATFORM/AT_NULL);
    ``stack_limit`` is the soft RLIMIT_STACK. An empty argv becomes ``[b""]`` as in Linux since
    5.18. Raises Errno(E2BIG) where execve would.
    """
    if stack_top % 16:
        raise ValueError(f"stack top {stack_top:#x} is not 16-byte aligned")
    if len(random_bytes) != RANDOM_BYTES:
        raise ValueError("AT_RANDOM needs exactly 16 bytes")
    if any(key in _STACK_KEYS for key, _ in auxv):
        raise ValueError("auxv must not carry AT_RANDOM, AT_EXECFN, AT_PLATFORM or AT_NULL")
    argv = list(argv) or [b""]
    _check_strings([execfn, *envp, *argv], len(argv) + len(envp), stack_limit)

    b = _Builder(stack_top)
    b.put(bytes(_WORD))
    execfn_addr = b.put(execfn + b"\0")
    env_addrs = [b.put(s + b"\0") for s in reversed(envp)][::-1]
    arg_addrs = [b.put(s + b"\0") for s in reversed(argv)][::-1]
    arg_start = b.p
    b.p &= ~15
    platform_addr = b.put(platform + b"\0") if platform else None
    random_addr = b.put(bytes(random_bytes))

    table = _place_stack_entries(auxv, random_addr, execfn_addr, platform_addr)
    words = [len(argv), *arg_addrs, 0, *env_addrs, 0]
    words += [v for pair in table for v in pair]
    sp = (b.p - len(words) * _WORD) & ~15
    b.p = sp + len(words) * _WORD
    b.put(_words(len(words)).pack(*words))
    arg_end = env_start = env_addrs[0] if envp else execfn_addr
    return InitialStack(sp=sp, start=sp, data=b.image(sp), arg_start=arg_start,
                        arg_end=arg_end, env_start=env_start,
                        env_end=execfn_addr, auxv=tuple(table))
