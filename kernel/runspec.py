"""From ``run``'s flags and the image (a root directory or an OCI bundle) to a :class:`KernelConfig`.

Flags win over the bundle, as with docker: CMD over ``process.args``, ``-w`` over
``process.cwd``, ``-u`` over ``process.user``, ``-e`` over ``process.env``. A user or group
given by name, and a command given without a slash, are looked up in the image itself (its
``/etc/passwd``, ``/etc/group`` and the guest's ``PATH``), read confined to the image root.
Every problem is a :class:`RunSpecError` with a one-line message; the CLI exits 125 with it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from abi.creds import ALL_CAPS, DOCKER_DEFAULT_CAPS, CapabilitySets, cap_number
from kernel.images.rootfs import ImageFiles
from kernel.kernel import KernelConfig
from kernel.netfiles import DNS_NONE, NetworkFlagError, network_files, parse_add_host, parse_dns
from kernel.oci import Bundle, BundleError, MountSpec, is_bundle, load_bundle, tmpfs_option_problem, validate_hostname
from netgate.policy import NETWORK_NONE, NETWORK_SANDBOX, nameservers

log = logging.getLogger("sentrio.runspec")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_HOSTNAME = "sentrio"
DEFAULT_COMMAND = ["/bin/sh"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: The largest ``--env-file`` read (a FIFO or /dev/zero must not hold the start up for ever).
MAX_ENV_FILE = 1 << 20


class RunSpecError(Exception):
    """The sandbox cannot be configured as asked; the message says why, in one line."""


class CommandNotFoundInImage(RunSpecError):
    """CMD names no program in the image (exit 127)."""

    def __init__(self, command: str) -> None:
        super().__init__(f"{command}: not found in the image")
        self.command = command


@dataclass(slots=True)
class RunFlags:
    """The flags of ``run`` that shape the sandbox (argparse fills them)."""

    image: str
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    env_file: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    volume: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    hostname: str | None = None
    read_only: bool = False
    rw: bool = False
    interactive: bool = False
    tty: bool = False
    memory: int | None = None
    pids_limit: int | None = None
    name: str | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    #: ``--network``; None: what the bundle's namespaces say, else sandbox.
    network: str | None = None
    allow_host_loopback: bool = False
    dns: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)
    no_hosts: bool = False
    no_hostname: bool = False


def build_config(flags: RunFlags) -> KernelConfig:
    """The sandbox ``flags`` describe; raises RunSpecError."""
    if not os.path.isdir(flags.image):
        raise RunSpecError(f"image {flags.image!r} is not a directory")
    bundle: Bundle | None = None
    if is_bundle(flags.image):
        try:
            bundle = load_bundle(flags.image)
        except BundleError as error:
            raise RunSpecError(str(error)) from None
    root_path = bundle.rootfs if bundle else flags.image
    with ImageFiles(root_path) as root:
        uid, gid, groups, home = image_user(root, flags.user, bundle)
        env = guest_environment(flags.env, flags.env_file, base=bundle.env if bundle else [])
        hostname = flags.hostname if flags.hostname is not None else \
            (bundle.hostname if bundle else None) or DEFAULT_HOSTNAME
        try:
            validate_hostname(hostname, "--hostname")
        except BundleError as error:
            raise RunSpecError(str(error)) from None
        env.setdefault("HOSTNAME", hostname)
        env.setdefault("HOME", home)
        tty = flags.tty or bool(bundle and bundle.terminal and not flags.cmd)
        if tty:
            env.setdefault("TERM", "xterm")
        argv = list(flags.cmd or (bundle.args if bundle and bundle.args else DEFAULT_COMMAND))
        if not argv[0]:
            raise RunSpecError("the command is empty")
        argv[0] = find_command(root, argv[0], env["PATH"])

    cwd = flags.workdir if flags.workdir is not None else (bundle.cwd if bundle else "/")
    if not cwd.startswith("/"):
        raise RunSpecError(f"the working directory must be an absolute path, got {cwd!r}")
    try:
        added_hosts = [parse_add_host(value) for value in flags.add_host]
        upstream = parse_dns(flags.dns)
    except NetworkFlagError as error:
        raise RunSpecError(str(error)) from None
    host_resolv_conf = _host_resolv_conf()
    network, netns = _network(flags.network, bundle)
    mounts = network_files(hostname, network, flags.allow_host_loopback, added_hosts, host_resolv_conf,
                           hosts=not flags.no_hosts, hostname_file=not flags.no_hostname,
                           resolver=DNS_NONE not in flags.dns)
    mounts += [served for m in (bundle.mounts if bundle else []) if (served := _served(m)) is not None]
    mounts += [parse_volume(v) for v in flags.volume]
    mounts += [parse_tmpfs(t) for t in flags.tmpfs]
    optional: dict[str, Any] = {}  # only what was asked for: the kernel's defaults stand otherwise
    capabilities = container_capabilities(flags.cap_add, flags.cap_drop, bundle, uid)
    if capabilities is not None:
        optional["capabilities"] = capabilities
    if bundle is not None and bundle.no_new_privileges:
        optional["no_new_privs"] = True
    if flags.pids_limit is not None or (bundle is not None and bundle.pids_limit is not None):
        optional["pids_limit"] = flags.pids_limit or (bundle.pids_limit if bundle else None)
    memory = flags.memory if flags.memory is not None else (bundle.memory_limit if bundle else None)
    if flags.name is not None and not _NAME.fullmatch(flags.name):
        raise RunSpecError(f"--name {flags.name!r}: use letters, digits, '_', '.' and '-' (at most 64)")
    return KernelConfig(
        image=root_path,
        argv=[os.fsencode(a) for a in argv],
        env=[f"{k}={v}".encode() for k, v in env.items()],
        hostname=hostname,
        memory_limit=memory,
        cwd=os.fsencode(os.path.normpath(cwd)),
        uid=uid, gid=gid, additional_gids=groups,
        rlimits=dict(bundle.rlimits) if bundle else {},
        read_only=flags.read_only or (bundle is not None and bundle.read_only and not flags.rw),
        rw=flags.rw,
        mounts=mounts,
        interactive=flags.interactive,
        tty=tty,
        sandbox_id=flags.name or secrets.token_hex(6),
        network=network,
        netns=netns,
        allow_host_loopback=flags.allow_host_loopback,
        resolvers=upstream or nameservers(host_resolv_conf),
        **optional,
    )


# --- environment -----------------------------------------------------------------------------

def guest_environment(assignments: Sequence[str], env_files: Sequence[str] = (),
                      base: Sequence[str] = ()) -> dict[str, str]:
    """The guest's environment: ``base`` (a bundle's), a default PATH, then each ``--env-file``
    line and each ``-e`` in order. ``KEY`` without ``=`` passes the host's value, if any."""
    env: dict[str, str] = {}
    for item in base:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    lines: list[str] = []
    for name in env_files:
        try:
            with open(name, "rb") as file:
                data = file.read(MAX_ENV_FILE + 1)
            text = data.decode()
        except (OSError, UnicodeDecodeError) as error:
            raise RunSpecError(f"cannot read --env-file {name!r}: {getattr(error, 'strerror', error)}") from None
        if len(data) > MAX_ENV_FILE:
            raise RunSpecError(f"--env-file {name!r}: larger than {MAX_ENV_FILE >> 20} MiB")
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):  # as text mode reads lines
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    for item in [*lines, *assignments]:
        key, sep, value = item.partition("=")
        if not key or "\0" in item:
            raise RunSpecError(f"bad environment assignment {item!r}")
        if sep:
            env[key] = value
        elif key in os.environ:  # as docker does
            env[key] = os.environ[key]
    return env


# --- capabilities ----------------------------------------------------------------------------

def capability_mask(names: Sequence[str], flag: str) -> tuple[int, bool]:
    """The capabilities ``names`` give (``CHOWN``, ``cap_chown``, ``CAP_CHOWN``), and whether
    one of them is ``ALL``; an unknown name is a RunSpecError naming the flag."""
    mask, everything = 0, False
    for name in names:
        if name.upper() == "ALL":
            everything = True
            continue
        number = cap_number(name)
        if number is None:
            raise RunSpecError(f"{flag} {name!r}: unknown capability")
        mask |= 1 << number
    return mask, everything


def tweak_capabilities(base: int, add: Sequence[str], drop: Sequence[str]) -> int:
    """docker's ``--cap-add``/``--cap-drop`` on the list ``base``: ``--cap-add ALL`` gives every
    capability but the dropped ones, ``--cap-drop ALL`` only the added ones; otherwise the
    dropped ones go and then the added ones come (so adding wins over dropping)."""
    added, add_all = capability_mask(add, "--cap-add")
    dropped, drop_all = capability_mask(drop, "--cap-drop")
    if add_all:
        return ALL_CAPS & ~dropped
    if drop_all:
        return added
    return (base & ~dropped) | added


def container_capabilities(add: Sequence[str], drop: Sequence[str], bundle: Bundle | None,
                           uid: int) -> int | CapabilitySets | None:
    """What the first process is given: the bundle's sets, docker's defaults, either tweaked by
    ``--cap-add``/``--cap-drop`` (None: nothing to change from docker's defaults).

    On a bundle's sets the flags tweak the bounding set; the other sets lose what it lost,
    and root's effective and permitted sets gain what it gained, as docker gives them."""
    sets = bundle.capabilities if bundle is not None else None
    if sets is None:
        return tweak_capabilities(DOCKER_DEFAULT_CAPS, add, drop) if add or drop else None
    if not add and not drop:
        return sets
    bounding = tweak_capabilities(sets.bounding, add, drop)
    lost, gained = sets.bounding & ~bounding, (bounding & ~sets.bounding if uid == 0 else 0)
    return CapabilitySets(bounding=bounding, effective=(sets.effective & ~lost) | gained,
                          permitted=(sets.permitted & ~lost) | gained, inheritable=sets.inheritable & ~lost,
                          ambient=sets.ambient & ~lost)


# --- users -----------------------------------------------------------------------------------

def _table(root: ImageFiles, path: str) -> list[list[str]]:
    """``/etc/passwd`` or ``/etc/group`` of the image, split into fields."""
    return [line.split(":") for line in root.read_text(path).splitlines()
            if line and not line.startswith("#") and line.count(":") >= 2]


def image_user(root: ImageFiles, spec: str | None, bundle: Bundle | None) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) for ``-u USER[:GROUP]``, the bundle's, or root."""
    passwd = _table(root, "/etc/passwd")
    if spec is None:
        uid = bundle.uid if bundle else 0
        gid = bundle.gid if bundle else 0
        home = next((e[5] for e in passwd if len(e) > 5 and e[2] == str(uid)), "/root" if uid == 0 else "/")
        return uid, gid, list(bundle.additional_gids) if bundle else [], home
    user, sep, group = spec.partition(":")
    if not user or (sep and not group):
        raise RunSpecError(f"--user {spec!r}: expected UID[:GID]")
    entry = next((e for e in passwd if len(e) > 3 and (e[0] == user or e[2] == user)), None)
    if user.isdigit():
        uid = int(user)
    elif entry is not None and entry[2].isdigit():
        uid = int(entry[2])
    else:
        raise RunSpecError(f"--user {spec!r}: no user {user!r} in the image's /etc/passwd")
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = next((e for e in _table(root, "/etc/group") if e[0] == group and e[2].isdigit()), None)
            if found is None:
                raise RunSpecError(f"--user {spec!r}: no group {group!r} in the image's /etc/group")
            gid = int(found[2])
    if uid >= 2**32 - 1 or gid >= 2**32 - 1:
        raise RunSpecError(f"--user {spec!r}: id out of range")
    home = entry[5] if entry is not None and len(entry) > 5 and entry[5] else ("/root" if uid == 0 else "/")
    return uid, gid, [], home


# --- the command -----------------------------------------------------------------------------

def find_command(root: ImageFiles, command: str, path: str) -> str:
    """``command`` as execve will open it: itself if it holds a slash, else the first executable
    regular file of that name along ``path`` in the image. CommandNotFoundInImage if none."""
    if "/" in command:
        return command
    for directory in path.split(":"):
        candidate = os.path.join(directory, command)
        if candidate.startswith("/") and root.is_executable(candidate):
            return candidate
    raise CommandNotFoundInImage(command)


# --- mounts ----------------------------------------------------------------------------------

def _network(flag: str | None, bundle: Bundle | None) -> tuple[str, str | None]:
    """The sandbox's network, and the network namespace its way out starts in (None: the
    runtime's own). ``--network`` decides; else a bundle asking for a new network namespace gets
    none (as runc gives it an empty one: ``podman --network none``), one naming an engine's
    namespace goes out from there, and one listing none shares the runtime's, as runc does."""
    if flag is not None:
        return flag, None
    if bundle is None or bundle.network_namespace is None:
        return NETWORK_SANDBOX, None
    if not bundle.network_namespace:
        return NETWORK_NONE, None
    return NETWORK_SANDBOX, bundle.network_namespace


def _host_resolv_conf() -> str:
    """The host's /etc/resolv.conf (empty if it has none): its resolvers are the sandbox's
    upstream ones, its search and options lines the guest's."""
    try:
        with open("/etc/resolv.conf", encoding="utf-8", errors="replace") as text:
            return text.read(65536)
    except OSError:
        return ""


#: The largest host file a bind of a single file copies into the sandbox.
FILE_BIND_MAX = 16 << 20


def file_mount(destination: str, source: str, read_only: bool, what: str) -> MountSpec:
    """A bind of the single host file ``source``: a copy of its bytes, read now (before the
    Sentry confines itself) and mounted over ``destination`` from the sandbox's memory. What the
    host writes to the file later is not seen, and what the guest writes stays in the sandbox."""
    try:  # O_NONBLOCK: a FIFO given as the source must not hold the start up
        with open(os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise RunSpecError(f"{what}: {source!r} is neither a directory nor a regular file")
            content = file.read(FILE_BIND_MAX + 1)
    except OSError as error:
        raise RunSpecError(f"{what}: cannot read {source!r}: {error.strerror}") from None
    if len(content) > FILE_BIND_MAX:
        raise RunSpecError(f"{what}: {source!r} is larger than {FILE_BIND_MAX >> 20} MiB; bind its directory")
    return MountSpec(destination=destination, kind="file", source=os.path.abspath(source), read_only=read_only,
                     content=content)


def _served(mount: MountSpec) -> MountSpec | None:
    """A bundle's mount as the sandbox makes it: a bind of a single file (engines bind
    /etc/hosts, /etc/resolv.conf, /etc/hostname, /run/.containerenv) becomes a copy
    (:func:`file_mount`); one that cannot be read is skipped with a debug line, so the
    container still starts."""
    if mount.kind != "bind" or mount.source is None or os.path.isdir(mount.source):
        return mount
    try:
        return file_mount(mount.destination, mount.source, mount.read_only, f"mount {mount.destination}")
    except RunSpecError as error:
        log.debug("%s; skipped", error)
        return None


def _guest_path(path: str, flag: str) -> str:
    if not path.startswith("/"):
        raise RunSpecError(f"{flag}: the guest path must be absolute, got {path!r}")
    return os.path.normpath(path)


def parse_volume(spec: str) -> MountSpec:
    """``-v HOST:GUEST[:ro|rw]``: a bind mount whose host source must exist."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise RunSpecError(f"--volume {spec!r}: expected HOST:GUEST[:ro]")
    host, guest = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise RunSpecError(f"--volume {spec!r}: the mode must be ro or rw, not {mode!r}")
    if not os.path.exists(host):
        raise RunSpecError(f"--volume {spec!r}: the source {host!r} does not exist")
    if not os.path.isdir(host):
        if mode != "ro":
            raise RunSpecError(f"--volume {spec!r}: a single file is bound read-only (add :ro), as a copy made "
                               "at start; bind its directory to share writes")
        return file_mount(_guest_path(guest, "--volume"), host, True, f"--volume {spec!r}")
    return MountSpec(destination=_guest_path(guest, "--volume"), kind="bind", source=os.path.abspath(host),
                     read_only=mode == "ro", options=(mode,))


def parse_tmpfs(spec: str) -> MountSpec:
    """``--tmpfs PATH[:OPTIONS]`` (OPTIONS as mount(8) takes them: ``size=64m,mode=1777``)."""
    path, _, options = spec.partition(":")
    opts = tuple(o for o in options.split(",") if o)
    problem = tmpfs_option_problem(opts)
    if problem:
        raise RunSpecError(f"--tmpfs {spec!r}: {problem}")
    return MountSpec(destination=_guest_path(path, "--tmpfs"), kind="tmpfs", source="tmpfs",
                     read_only="ro" in opts, options=opts)
