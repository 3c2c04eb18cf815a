"""The sandbox's namespaces: made by the template stub on its way to exec, joined by the Sentry.

A sandbox has one set of namespaces of its own — user, mount, network, IPC, UTS and cgroup —
shared by the Sentry and every stub, as runsc's Sentry and stubs share theirs. The mount
namespace holds one file system as its root: a read-only tmpfs, pivoted into, so neither the
Sentry nor a stub can name a single host file. Host files reach the sandbox only through the
gofers, which were started before the Sentry moved in.

The root's one entry is ``/proc``: a procfs mounted ``subset=pid,hidepid=invisible``, so it
holds nothing but process directories, and only of processes its reader may ptrace-read — the
sandbox's stubs and the reader itself (every other process runs as another uid or in another
user namespace). The platform reads a stub thread's CPU time and the CPU it runs on there
(``/proc/PID/task/TID/schedstat`` and ``stat``); no host-wide file (``/proc/sys``, ``/proc/kcore`` ...) and
no other process is in it. A procfs can only be mounted with privilege over the host's pid
namespace, so only a sandbox started by root has it.

Who makes the namespaces is dictated by ptrace and by what each process must still do on the host:

* The template stub's child makes them (:func:`make_sandbox`), between fork and exec: it is the
  first process of the sandbox, the stubs of every guest process are forks of it, and after
  exec it runs no code of ours. It ends as the sandbox's unprivileged uid with no capability.
* The Sentry joins them (:func:`join_sandbox`) only once start-up is over — every gofer started,
  terminal and control socket opened — because until then it needs the host's file system.
  ptrace requires a tracer and its tracees to share a user namespace for a *new* attach; ours
  are attached from birth (``PTRACE_TRACEME``, then ``PTRACE_O_TRACEFORK``/``TRACECLONE``), and
  joining the tracees' namespaces keeps the two on the same side anyway.

The user namespace maps a single id: the sandbox's uid (nobody, 65534, when started by root; the
caller's own id otherwise) to itself, so whatever the Sentry or a stub owns or signals on the host
is what nobody owns and may signal. Started by root, the child makes the other namespaces first,
while it is still root on the host (so the mounts belong to the host's user namespace: nothing
in the sandbox's may change them), and the user namespace last; where a user namespace cannot
be made (a kernel or container that forbids them) it goes on without one, and the uid change and
the empty capability sets do the same work. Started by an ordinary user, the user namespace has
to come first: it is what grants the right to make the others.

Making the user namespace takes both sides: the child unshares it and asks, the parent (still
holding its privileges in the parent namespace) writes the id maps, the child goes on. The two
talk over a socketpair whose child end closes on exec; a failure is reported on it as a line
of text, so the Sentry can say what went wrong in one sentence.
"""

from __future__ import annotations

import os
import socket

from abi.confine import NAMESPACE_NAMES, NOBODY
from abi.mount import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT
from abi.linux import CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWUTS
from gofer.confine import (
    ConfinementError,
    become,
    drop_bounding_set,
    make_mounts_private,
    mount,
    pivot_into,
    set_no_new_privs,
    setns,
    syscall,
    unshare,
)

#: Every namespace of the sandbox but the user namespace (made on its own).
SANDBOX_NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
#: The sandbox's root: read-only once built, no devices, nothing executable, two inodes at most.
ROOT_OPTIONS = "mode=0555,size=4k,nr_inodes=2"
ROOT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC
#: Its /proc: process directories only, and only those the reader may ptrace-read.
PROC_OPTIONS = "subset=pid,hidepid=invisible"
#: Directories the empty root may be mounted on before the pivot (any will do; /proc is always
#: there on a host that runs us).
_MOUNT_POINTS = ("/proc", "/tmp", "/dev")
#: The host name inside the sandbox's UTS namespace: the host's own is nothing the Sentry needs.
SANDBOX_HOSTNAME = b"sentrio"

_ASK_MAPS = b"M"
_MAPS_WRITTEN = b"K"


def sandbox_ids() -> tuple[int, int]:
    """The uid and gid the Sentry and stubs end up with: nobody if started by root, else the caller's."""
    if os.geteuid() == 0:
        return NOBODY, NOBODY
    return os.geteuid(), os.getegid()


# --- the child: make the namespaces ------------------------------------------------------------


def make_sandbox(channel: int) -> None:
    """In the template stub's child before exec: make the sandbox's namespaces, pivot into its
    root, and become its unprivileged uid with no capabilities and no_new_privs.

    ``channel`` is the child's end of :func:`open_channel`; ConfinementError/OSError on failure.
    """
    uid, gid = sandbox_ids()
    privileged = os.geteuid() == 0  # asked now: in the new user namespace root is unmapped
    if privileged:
        _make_namespaces(with_proc=True)
        _make_user_namespace(channel, required=False)
    else:
        _make_user_namespace(channel, required=True)
        _make_namespaces(with_proc=False)
    drop_bounding_set()
    become(uid, gid, drop_groups=privileged)
    set_no_new_privs()


def _make_namespaces(*, with_proc: bool) -> None:
    """Every namespace but the user namespace, the root pivoted into, the host name set."""
    unshare(SANDBOX_NAMESPACES)
    _build_root(with_proc=with_proc)
    syscall("sethostname", SANDBOX_HOSTNAME, len(SANDBOX_HOSTNAME))


def _make_user_namespace(channel: int, *, required: bool) -> None:
    """A user namespace of its own, its id maps written by the parent (none, if not ``required``
    and the kernel refuses one)."""
    try:
        unshare(CLONE_NEWUSER)
    except OSError as error:
        if required:  # without a user namespace, nothing else can be made unprivileged
            raise ConfinementError(f"cannot make a user namespace: {error.strerror}") from None
        return
    os.write(channel, _ASK_MAPS)
    if os.read(channel, 1) != _MAPS_WRITTEN:
        raise ConfinementError("the Sentry did not write the user namespace's id maps")


def _build_root(*, with_proc: bool) -> None:
    """Pivot into a fresh read-only tmpfs (holding a pid-only /proc if asked) in this new mount
    namespace, leaving nothing of the host's mounts behind."""
    make_mounts_private()
    point = next(p for p in _MOUNT_POINTS if os.path.isdir(p))
    mount("tmpfs", point, "tmpfs", ROOT_FLAGS, ROOT_OPTIONS)
    if with_proc:
        proc = os.path.join(point, "proc")
        os.mkdir(proc, 0o555)
        mount("proc", proc, "proc", ROOT_FLAGS, PROC_OPTIONS)
    mount(None, point, None, MS_REMOUNT | MS_RDONLY | ROOT_FLAGS)
    pivot_into(point)


def report_failure(channel: int, error: BaseException) -> None:
    """Tell the parent why the child could not make the sandbox (it exits right after)."""
    try:
        os.write(channel, b"E" + str(error).encode(errors="replace")[:500])
    except OSError:
        pass  # the parent is gone: nobody to tell


# --- the parent: id maps, and the outcome --------------------------------------------------------


def open_channel() -> tuple[int, int]:
    """(parent end, child end) of the set-up channel; the child's closes when it execs."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    parent_fd, child_fd = parent.detach(), child.detach()
    os.set_inheritable(child_fd, False)
    return parent_fd, child_fd


def serve_child(channel: int, pid: int) -> None:
    """In the parent: write the child's id maps when it asks, and wait for it to exec.

    Raises ConfinementError with the child's own words if it failed.
    """
    try:
        while True:
            message = os.read(channel, 512)
            if message == _ASK_MAPS:
                write_id_maps(pid)
                os.write(channel, _MAPS_WRITTEN)
            elif message.startswith(b"E"):
                raise ConfinementError(message[1:].decode(errors="replace"))
            elif not message:  # the child exec'd (or died: its wait status says which)
                return
            else:
                raise ConfinementError(f"unexpected message from the stub: {message[:40]!r}")
    finally:
        os.close(channel)


def write_id_maps(pid: int) -> None:
    """Map the sandbox's uid and gid to themselves in ``pid``'s new user namespace."""
    uid, gid = sandbox_ids()
    if os.geteuid() != 0:  # an unprivileged map of one's own gid needs setgroups denied
        _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/uid_map", f"{uid} {uid} 1\n")
    _write(f"/proc/{pid}/gid_map", f"{gid} {gid} 1\n")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# --- the Sentry: join them -------------------------------------------------------------------------


def namespace_ids(pid: int | str = "self") -> dict[str, int]:
    """The inode of each of ``pid``'s namespaces, by name (what ``/proc/PID/ns/NAME`` links to)."""
    return {name: os.stat(f"/proc/{pid}/ns/{name}").st_ino for name in NAMESPACE_NAMES}


def join_sandbox(pid: int) -> list[str]:
    """Move this (single-threaded) process into ``pid``'s namespaces; returns the ones joined.

    Each is joined while this process still holds the capabilities its owner asks for: started
    by root, the mount, network, IPC, UTS and cgroup namespaces belong to the host's user
    namespace and come before the sandbox's user namespace; started unprivileged, they belong to
    the sandbox's and come after it. Joining the mount namespace also makes its root this
    process's root and working directory.
    """
    ours = namespace_ids()
    theirs = namespace_ids(pid)
    others = [name for name in NAMESPACE_NAMES if name != "user"]
    order = others + ["user"] if os.geteuid() == 0 else ["user"] + others
    fds = {name: os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
           for name in order if theirs[name] != ours[name]}
    try:
        for name, fd in fds.items():
            try:
                setns(fd)
            except OSError as error:
                raise ConfinementError(f"cannot join the sandbox's {name} namespace: {error.strerror}") from None
    finally:
        for fd in fds.values():
            os.close(fd)
    if "mnt" not in fds:
        raise ConfinementError("the stubs have no mount namespace of their own to join")
    os.chdir("/")
    return list(fds)


def is_single_threaded() -> bool:
    """Whether this process has one thread (setns into a user namespace demands it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1]) == 1
    return False

