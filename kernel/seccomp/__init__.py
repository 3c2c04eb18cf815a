"""Seccomp filters installed by guests: the classic BPF checker and interpreter (:mod:`.bpf`),
a thread's filter state and what it decides for each system call (:mod:`.filters`)."""

from kernel.seccomp.filters import Filter, SeccompState, filtered_dispatch

__all__ = ["Filter", "SeccompState", "filtered_dispatch"]
