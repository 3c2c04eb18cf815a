"""Confining the Sentry once start-up is over.

Until then the Sentry is an ordinary process: it starts the template stub (which makes the
sandbox's namespaces, :mod:`kernel.confine.namespaces`), the gofers, the terminal relay and
its watchdog, binds the control socket, opens its log and trace files. After that it needs
nothing of the host but the fds it holds, so :func:`confine_sentry` takes the rest away:

1. Every module it could still import is imported now: afterwards no Python file is reachable
   (an import that still happens is logged by name, see :class:`LateImports`).
2. A *keeper* is started: a tiny process (:mod:`kernel.confine.keeper`, a fresh interpreter)
   that stays outside, waits until the Sentry has ended (a pipe only the Sentry holds reaches
   its end, however the Sentry dies) and removes the sandbox's runtime directory, which the
   Sentry will no longer see.
3. The Sentry joins the sandbox's user, mount, network, IPC, UTS and cgroup namespaces: its root
   becomes the empty read-only tmpfs, so a host file can no longer be named at all.
4. It becomes nobody (65534) with no capability at all — bounding set, ambient, effective,
   permitted and inheritable all empty; runsc's Sentry keeps SYS_ADMIN and SYS_CHROOT in its
   user namespace, ours needs neither: the stubs are already attached, ptrace of an attached
   tracee checks nothing, and signals and CPU affinity reach them because they are nobody too.
5. ``PR_SET_DUMPABLE`` 0 and ``PR_SET_NO_NEW_PRIVS``.
6. The seccomp allowlist of :mod:`kernel.confine.allowlist`: a call outside it is not made; it
   is logged by name and the Sentry dies of SIGSYS (its stubs die with it, by
   ``PTRACE_O_EXITKILL``; its gofers by their parent-death signal; the terminal is restored by
   the watchdog and the runtime directory removed by the keeper).

Why a trap and not ``SECCOMP_RET_KILL_PROCESS``: a kill is recorded only by the host's audit
log, where the user of a sandbox does not look; a trap lets the Sentry say in its own log which
call it was, and costs nothing in strength: the refused call never runs, and a compromised
Sentry that ignored SIGSYS would only see the call fail.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.abc
import logging
import os
import pkgutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gofer.confine import (
    ConfinementError,
    become,
    capget,
    drop_bounding_set,
    set_dumpable,
    set_no_new_privs,
)
from gofer.seccomp import Census, install_filter, report_traps
from kernel.confine import keeper
from kernel.confine.allowlist import SENTRY_TEMPLATE
from kernel.confine.keeper import made_by
from kernel.confine.namespaces import is_single_threaded, join_sandbox, sandbox_ids
from kernel.errors import SentryError

if TYPE_CHECKING:
    from kernel.kernel import Kernel

log = logging.getLogger("sentrio.confine")

#: The packages whose every module the Sentry imports before it loses the file system.
PRELOADED_PACKAGES = ("abi", "kernel", "services", "platforms", "gofer")
#: Modules of those packages a run imports before confinement when it uses them at all, and
#: never after: left out of the preload, which would otherwise pay for them in every run. The
#: deterministic scheduler imports ``trio.testing``, which imports pytest where it is installed
#: (~75 ms, a fifth of the Sentry's start-up CPU); ``--deterministic`` and ``--chaos`` import it
#: while the command line is read (:meth:`kernel.experiment.ResearchTools.install`). The fuzzer's modules
#: serve ``python -m kernel fuzz``, imported before it starts a Sentry.
NOT_PRELOADED = ("kernel.determinism.scheduler", "kernel.fuzz.")
#: Modules the Sentry's libraries import lazily, on paths start-up may not take. anyio imports
#: its trio backend at its first call (the gofer connection's, every run): ~13 ms and ~20 modules
#: that a zygote's run would otherwise import again after each fork.
PRELOADED_MODULES = ("encodings.latin_1", "encodings.ascii", "encodings.utf_8", "encodings.idna",
                     "json.decoder", "json.encoder", "traceback", "linecache", "tokenize",
                     "anyio._backends._trio", "gofer.__main__", "netgate.__main__")


def confine_sentry(kernel: Kernel) -> None:
    """Take the host away from this Sentry (see the module's docstring); SentryError, in one
    line, if it cannot be done."""
    try:
        _confine(kernel)
    except (ConfinementError, OSError) as error:
        raise SentryError(f"cannot confine the Sentry: {error} (--debug-unconfined runs it unconfined)") from None


def _confine(kernel: Kernel) -> None:
    platform = kernel.platform
    template = getattr(platform, "template_pid", None)
    if template is None or not getattr(platform, "confined", False):
        raise ConfinementError("the platform made no sandbox namespaces to join (it runs unconfined)")
    _retire_worker_threads()
    preload()
    time.localtime()  # the local time zone, read once while /etc/localtime is still there
    uid, gid = sandbox_ids()
    privileged = os.geteuid() == 0  # asked now: in the sandbox's user namespace root is unmapped
    census = Census.requested("sentry", follow_threads=False)
    _start_keeper(kernel)
    report_traps(log)
    join_sandbox(template)
    drop_bounding_set()
    become(uid, gid, drop_groups=privileged)
    set_dumpable(False)
    set_no_new_privs()
    if capget() != (0, 0, 0):
        raise ConfinementError(f"capabilities left after dropping them: {capget()}")
    sys.meta_path.insert(0, LateImports())
    if census is not None:
        census.begin()
    else:
        install_filter(SENTRY_TEMPLATE.program(os.getpid()))
    log.debug("confined: namespaces of stub %d, uid %d, no capabilities, seccomp", template, uid)


def _retire_worker_threads(timeout: float = 5.0) -> None:
    """End the idle worker threads trio keeps, and make sure none other is left.

    A process with more than one thread cannot change its user or mount namespace. trio runs a
    few blocking calls in worker threads (binding the control socket's path is one) and keeps
    each idle for ten seconds in case more come; nothing public ends them sooner, so they are
    handed a last, empty job with the idle timeout set to zero, and exit once it is done.
    """
    if threading.active_count() > 1:
        from trio._core import _thread_cache  # no public way to retire idle workers

        _thread_cache.IDLE_TIMEOUT = 0  # type: ignore[misc]
        cache = _thread_cache.THREAD_CACHE
        idle = []
        while cache._idle_workers:
            worker, _ = cache._idle_workers.popitem()
            idle.append(worker)
        for worker in idle:
            worker._job = (_nothing, _nothing, None)
            worker._worker_lock.release()
        for thread in threading.enumerate():
            if thread is not threading.current_thread():
                thread.join(timeout)
    deadline = time.monotonic() + timeout
    while not is_single_threaded():  # a joined thread may take a moment to leave the kernel
        if time.monotonic() > deadline:
            names = [thread.name for thread in threading.enumerate()]
            raise ConfinementError(f"the Sentry has more than one thread ({names}); it cannot change namespaces")
        time.sleep(0.001)


def _nothing(*args: object) -> None:
    pass


def preload(packages: Sequence[str] = PRELOADED_PACKAGES) -> None:
    """Import every module of ``packages`` (but ``__main__`` modules and :data:`NOT_PRELOADED`)
    and :data:`PRELOADED_MODULES`; at once if this process (or the zygote it was forked from)
    did so already: finding the modules lists every package directory (~3 ms)."""
    if tuple(packages) in _preloaded:
        return
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    for package_name in packages:
        for name in _modules_of(importlib.import_module(package_name)):
            if not name.endswith(".__main__") and not name.startswith(NOT_PRELOADED):
                importlib.import_module(name)
    _preloaded.add(tuple(packages))


#: The package lists :func:`preload` has imported in this process.
_preloaded: set[tuple[str, ...]] = set()


def _modules_of(package: Any) -> list[str]:
    """Every module under ``package``, namespace packages (directories without ``__init__.py``,
    as ``services.vfs``) included: :func:`pkgutil.walk_packages` does not see those."""
    names = []
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        names.append(module.name)
        if module.ispkg:
            names += _modules_of(importlib.import_module(module.name))
    for directory in package.__path__:
        for entry in sorted(os.scandir(directory), key=lambda entry: entry.name):
            if not entry.is_dir() or not entry.name.isidentifier():
                continue
            files = os.listdir(entry.path)
            if "__init__.py" not in files and any(name.endswith(".py") for name in files):
                names += _modules_of(importlib.import_module(f"{package.__name__}.{entry.name}"))
    return names


class LateImports(importlib.abc.MetaPathFinder):
    """Logs any import that reaches the finders after confinement (it will fail: no file of
    Python's is reachable any more), so a module missing from the preload is named, not guessed."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> None:
        log.warning("import of %s after confinement: no module file is reachable now", fullname)
        return None


# --- the keeper -----------------------------------------------------------------------------------

#: The write end of the keeper's pipe: held, never written, until the Sentry ends.
_keeper_pipe: int | None = None
#: The parent (a zygote: kernel.zygote.server) removes the runtime directory once we have
#: ended; no keeper is started.
_parent_keeps = False


def _start_keeper(kernel: Kernel) -> None:
    """Start the process that removes the runtime directory after the Sentry has gone
    (:mod:`kernel.confine.keeper`: executed, in a session of its own, the pipe as its stdin)."""
    global _keeper_pipe
    config = kernel.config
    if not config.runtime_dir or not config.sandbox_id:
        return
    directory = os.path.join(config.runtime_dir, config.sandbox_id)
    sentry = os.getpid()
    if made_by(directory) != sentry:
        return  # not ours (or no directory at all: the sandbox runs without one)
    if _parent_keeps:
        return
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(
            sys.executable, [sys.executable, "-I", "-S", keeper.__file__, directory, str(sentry)], os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0),
                          (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                          (os.POSIX_SPAWN_DUP2, 1, 2)],
            setsid=True, setsigmask=(), setsigdef=tuple(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}))
    finally:
        os.close(read_end)
    _keeper_pipe = write_end
    atexit.register(_let_keeper_finish, pid)


def keeper_removes_runtime_directory() -> bool:
    """Whether the keeper (or the parent) will remove the runtime directory (the confined
    Sentry cannot)."""
    return _keeper_pipe is not None or _parent_keeps


def parent_keeps_runtime_directory() -> None:
    """Our parent removes the runtime directory once we have ended (a zygote's run): the keeper
    would be a process of the sandbox's doing nothing it does not."""
    global _parent_keeps
    _parent_keeps = True


def _let_keeper_finish(pid: int) -> None:
    """At a normal exit: have the keeper remove the directory now, and wait until it has, so the
    directory is gone when our exit status is (a death by signal leaves it to the keeper alone)."""
    global _keeper_pipe
    if _keeper_pipe is not None:
        os.close(_keeper_pipe)
        _keeper_pipe = None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


