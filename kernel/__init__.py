"""The Sentry: Sentrio's kernel, serving every system call of the guest.

Map: :mod:`kernel.cli` (the command line) starts a :class:`kernel.kernel.Kernel`, which owns the
bus (:mod:`kernel.bus`), the syscall table (:mod:`kernel.syscalls`), the tasks
(:mod:`kernel.task`) and processes (:mod:`kernel.process`); the Linux ABI lives in
:mod:`abi`. Service actors live in the top-level ``services`` package, platforms in
``platforms``.
"""
