"""``exec``, on the Sentry's side: a new process in a running sandbox.

The control socket receives the request (argv, env, cwd, user) with the caller's stdin, stdout
and stderr beside it (SCM_RIGHTS). The process is made as the first one is, but with no parent
in the sandbox: as runsc's exec'd processes, it is nobody's child, its pid is freed when it
ends, and its wait status goes back over the connection.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi.creds import Credentials
from abi.errno import Errno
from kernel.errors import SentryError
from kernel.exec import (
    CommandNotExecutable,
    CommandNotFound,
    _working_directory,
    caller_of,
    load_program,
    reset_registers,
)
from kernel.creds import commit_exec
from kernel.files import release
from kernel.process import ThreadGroup
from kernel.task import Task

if TYPE_CHECKING:
    from kernel.kernel import Kernel


@dataclass(frozen=True, slots=True)
class ExecRequest:
    """What ``sentrio exec`` asks for, checked by the client."""

    argv: list[bytes]
    env: list[bytes]
    cwd: bytes
    uid: int
    gid: int
    groups: tuple[int, ...]


async def exec_process(kernel: Kernel, request: ExecRequest, stdio: tuple[int, int, int]) -> ThreadGroup:
    """Start ``request.argv`` in the sandbox with the host fds ``stdio`` as its 0, 1 and 2
    (they become the process's); CommandNotFound or CommandNotExecutable if it cannot start."""
    bus = kernel.bus
    asid = await bus.call("mm", "create")
    process = ThreadGroup(kernel, kernel.allocate_pid(request.uid), None, asid)
    process.creds = Credentials.of_user(request.uid, request.gid, request.groups, kernel.config.capabilities)
    for fd, stream in enumerate(await bus.call("vfs", "host_streams", stdio, None, True)):
        if stream is not None:
            process.fds.put(fd, stream)
    caller = caller_of(process)
    process.root = await bus.call("vfs", "root", caller)
    command = os.fsdecode(request.argv[0])
    try:
        if request.cwd != b"/":
            process.cwd = await _working_directory(kernel, process, request.cwd)
        else:
            process.cwd = await bus.call("vfs", "root", caller)
        entry, sp, exec_creds = await load_program(process.mm, kernel, process, request.argv[0], request.argv,
                                                   request.env)
    except (Errno, SentryError) as error:
        await release(bus, process.fds.id, [process.root, process.cwd, *process.fds.close_all()])
        await process.mm.call("destroy")
        kernel.release_pid(process.pid)
        if isinstance(error, SentryError):
            raise CommandNotExecutable(command, str(error)) from None
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise CommandNotFound(command) from None
        raise CommandNotExecutable(command, os.strerror(error.errno)) from None
    commit_exec(process, exec_creds)
    kernel.processes[process.pid] = process
    kernel.use_mm(asid)
    await bus.call("signals", "new_process", process.pid, None)
    await bus.call("signals", "new_thread", process.pid, process.pid, None, True)
    context = await process.mm.call("new_thread")
    task = Task(kernel, process, process.pid, context)
    reset_registers(task, entry, sp)
    kernel.start_task(task)
    return process
