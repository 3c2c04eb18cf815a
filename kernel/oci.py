"""OCI runtime bundles: a ``config.json`` beside a root file system, as runc and runsc take them.

:func:`load_bundle` reads and validates the parts of the runtime spec a sandbox honours:
``process`` (args, env, cwd, user, rlimits, terminal, capabilities, noNewPrivileges), ``root``
(path, readonly), ``hostname`` and ``mounts``. Anything malformed is a :class:`BundleError`
whose message names the offending field (``config.json: process.user.uid: expected an
integer, got "root"``), so the CLI can report it in one line.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from abi import linux
from abi.creds import CapabilitySets, cap_number

#: Mount types a sandbox knows; the VFS honours them as it grows (see ``MountSpec``).
KNOWN_MOUNT_TYPES = frozenset({"bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"})

#: ``RLIMIT_NOFILE`` -> its number, for the names ``process.rlimits[].type`` uses.
RLIMIT_NUMBERS: dict[str, int] = {
    name: getattr(linux, name) for name in dir(linux)
    if name.startswith("RLIMIT_") and isinstance(getattr(linux, name), int)
}


#: The largest config.json read. Real ones are a few KiB; argv and environment together are
#: bounded by ARG_MAX (2 MiB by default) on Linux anyway, and half of that is plenty here.
MAX_CONFIG_SIZE = 1 << 20
#: The deepest nesting of arrays and objects accepted (the runtime spec needs about 6 levels).
MAX_NESTING = 64


class BundleError(Exception):
    """config.json is unreadable or invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class MountSpec:
    """A file system to mount at ``destination`` in the guest before the first process runs.

    ``kind`` is ``bind`` (``source`` is a host path served by its own gofer), ``tmpfs`` (memory
    backed, ``source`` unused), ``file`` (one file of ``content``, kept in the sandbox's memory,
    as an engine binds its /etc/hosts) or a kernel file system type (``proc``, ``sysfs`` …).
    """

    destination: str
    kind: str
    source: str | None = None
    read_only: bool = False
    options: tuple[str, ...] = ()
    content: bytes = b""


#: The hooks of config.json a runtime runs on the host, in the order of a container's life.
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


@dataclass(frozen=True, slots=True)
class Hook:
    """A program the runtime runs on the host at a point of the container's life (the state
    JSON on its stdin): ``path`` with ``args`` (``args[0]`` is its argv[0]) and ``env``."""

    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@dataclass(slots=True)
class Bundle:
    """What a bundle's config.json asks for, validated."""

    path: str
    rootfs: str
    read_only: bool = False
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    #: RLIMIT number -> (soft, hard).
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    hostname: str | None = None
    terminal: bool = False
    #: ``process.consoleSize``: (height, width) of the terminal, None if not given.
    console_size: tuple[int, int] | None = None
    mounts: list[MountSpec] = field(default_factory=list)
    #: ``process.capabilities`` (None when the bundle has none: docker's defaults apply) and
    #: ``process.noNewPrivileges``.
    capabilities: CapabilitySets | None = None
    no_new_privileges: bool = False
    #: ``linux.namespaces``' network entry: None (none listed: the runtime's, where Sentrio's
    #: sandbox network goes out), "" (a new, empty one: no way out), or the path of one to join
    #: (an engine's, prepared with its own addresses and firewall).
    network_namespace: str | None = None
    #: ``linux.resources``: ``memory.limit`` in bytes and ``pids.limit`` (None: not set).
    memory_limit: int | None = None
    pids_limit: int | None = None
    #: ``hooks``: kind (one of HOOK_KINDS) -> its hooks, in order.
    hooks: dict[str, list[Hook]] = field(default_factory=dict)


def is_bundle(path: str) -> bool:
    """Whether ``path`` is an OCI bundle (a directory holding config.json)."""
    return os.path.isfile(os.path.join(path, "config.json"))


class _Fields:
    """Typed access to a JSON object, naming the field in every error."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise BundleError(f"config.json: {where or 'top level'}: expected an object, got {_show(value)}")
        self.value = value
        self.where = where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.value or self.value[key] is None:
            return default
        item = self.value[key]
        # bool is an int in Python; a JSON true where a number belongs is still an error.
        if not isinstance(item, kind) or (isinstance(item, bool) and bool not in _as_tuple(kind)):
            raise BundleError(f"config.json: {self._name(key)}: expected {_kind_name(kind)}, got {_show(item)}")
        return item

    def obj(self, key: str) -> _Fields:
        return _Fields(self.get(key, dict, {}), self._name(key))

    def strings(self, key: str) -> list[str]:
        items = self.get(key, list, [])
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise BundleError(f"config.json: {self._name(key)}[{index}]: expected a string, got {_show(item)}")
        return list(items)

    def objects(self, key: str) -> list[_Fields]:
        return [_Fields(item, f"{self._name(key)}[{i}]") for i, item in enumerate(self.get(key, list, []))]

    def error(self, key: str, message: str) -> BundleError:
        return BundleError(f"config.json: {self._name(key)}: {message}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _id(fields: _Fields, key: str, default: int = 0) -> int:
    value = fields.get(key, int, default)
    if not 0 <= value < 2**32 - 1:
        raise fields.error(key, f"out of range: {value}")
    return value


def _limit(fields: _Fields, key: str) -> int:
    value = fields.get(key, int)
    if value is None:
        raise fields.error(key, "missing")
    if not 0 <= value <= linux.RLIM_INFINITY:
        raise fields.error(key, f"out of range: {value}")
    return value


def _nesting(document: Any) -> int:
    """How deeply arrays and objects nest in ``document`` (walked without recursion)."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:
                stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def read_config(config_path: str) -> Any:
    """The JSON document in ``config_path``, bounded in size and nesting; BundleError if not.

    config.json is untrusted input: it is read only up to :data:`MAX_CONFIG_SIZE` and refused
    if nested deeper than :data:`MAX_NESTING`, before anything walks it."""
    try:
        with open(config_path, "rb") as file:
            data = file.read(MAX_CONFIG_SIZE + 1)
    except OSError as error:
        raise BundleError(f"cannot read {config_path}: {error.strerror}") from None
    if len(data) > MAX_CONFIG_SIZE:
        raise BundleError(f"config.json is larger than {MAX_CONFIG_SIZE >> 20} MiB")
    try:
        document = json.loads(data)
    except RecursionError:  # the parser's own limit, met before ours
        raise BundleError(f"config.json nests arrays and objects deeper than {MAX_NESTING} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"config.json is not valid JSON: {error}") from None
    if _nesting(document) > MAX_NESTING:
        raise BundleError(f"config.json nests arrays and objects deeper than {MAX_NESTING} levels")
    return document


def load_bundle(path: str) -> Bundle:
    """Read and validate ``path``/config.json."""
    document = read_config(os.path.join(path, "config.json"))
    top = _Fields(document, "")
    top.get("ociVersion", str)

    root = top.obj("root")
    root_path = root.get("path", str, "rootfs")
    rootfs = root_path if os.path.isabs(root_path) else os.path.join(path, root_path)
    if not os.path.isdir(rootfs):
        raise root.error("path", f"{root_path!r} is not a directory")
    bundle = Bundle(path=path, rootfs=rootfs, read_only=root.get("readonly", bool, False))

    process = top.obj("process")
    bundle.args = process.strings("args")
    bundle.env = process.strings("env")
    for index, entry in enumerate(bundle.env):
        if "=" not in entry or entry.startswith("="):
            raise BundleError(f"config.json: process.env[{index}]: expected KEY=VALUE, got {_show(entry)}")
    bundle.cwd = process.get("cwd", str, "/")
    if not bundle.cwd.startswith("/"):
        raise process.error("cwd", f"must be an absolute path, got {_show(bundle.cwd)}")
    bundle.terminal = process.get("terminal", bool, False)
    if process.get("consoleSize", dict) is not None:
        size = process.obj("consoleSize")
        height, width = size.get("height", int, 0), size.get("width", int, 0)
        if not (0 <= height < 1 << 16 and 0 <= width < 1 << 16):
            raise size.error("height", f"out of range: {height}x{width}")
        bundle.console_size = (height, width)
    user = process.obj("user")
    bundle.uid = _id(user, "uid")
    bundle.gid = _id(user, "gid")
    gids = user.get("additionalGids", list, [])
    for index, gid in enumerate(gids):
        if not isinstance(gid, int) or isinstance(gid, bool) or not 0 <= gid < 2**32 - 1:
            raise user.error(f"additionalGids[{index}]", f"expected a group id, got {_show(gid)}")
    bundle.additional_gids = list(gids)
    for limit in process.objects("rlimits"):
        name = limit.get("type", str)
        if name not in RLIMIT_NUMBERS:
            raise limit.error("type", f"unknown resource limit {_show(name)}")
        soft, hard = _limit(limit, "soft"), _limit(limit, "hard")
        if soft > hard:
            raise limit.error("soft", f"{soft} is above the hard limit {hard}")
        bundle.rlimits[RLIMIT_NUMBERS[name]] = (soft, hard)
    if process.get("capabilities", dict) is not None:
        bundle.capabilities = _capabilities(process.obj("capabilities"))
    bundle.no_new_privileges = process.get("noNewPrivileges", bool, False)

    bundle.hostname = top.get("hostname", str)
    if bundle.hostname is not None:
        validate_hostname(bundle.hostname, "config.json: hostname")
    for mount in top.objects("mounts"):
        bundle.mounts.append(_mount(mount))
    for namespace in top.obj("linux").objects("namespaces"):
        if namespace.get("type", str) == "network":
            path = namespace.get("path", str) or ""
            if path and not path.startswith("/"):
                raise namespace.error("path", f"must be an absolute path, got {_show(path)}")
            bundle.network_namespace = path
    resources = top.obj("linux").obj("resources")
    memory = resources.obj("memory").get("limit", int)
    if memory is not None and memory > 0:  # -1 (or 0) means no limit, as runc reads it
        bundle.memory_limit = memory
    pids = resources.obj("pids").get("limit", int)
    if pids is not None and pids > 0:
        bundle.pids_limit = pids
    hooks = top.obj("hooks")
    for kind in HOOK_KINDS:
        bundle.hooks[kind] = [_hook(hook) for hook in hooks.objects(kind)]
    return bundle


def _hook(fields: _Fields) -> Hook:
    path = fields.get("path", str)
    if not path or not path.startswith("/"):
        raise fields.error("path", f"must be an absolute path, got {_show(path)}")
    timeout = fields.get("timeout", int)
    if timeout is not None and timeout <= 0:
        raise fields.error("timeout", f"must be positive, got {timeout}")
    return Hook(path=path, args=tuple(fields.strings("args")), env=tuple(fields.strings("env")), timeout=timeout)


def _capabilities(fields: _Fields) -> CapabilitySets:
    """``process.capabilities``: five lists of ``CAP_*`` names; a missing list is empty."""
    masks = {}
    for key in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        mask = 0
        for index, name in enumerate(fields.strings(key)):
            number = cap_number(name) if name.upper().startswith("CAP_") else None
            if number is None:
                raise fields.error(f"{key}[{index}]", f"unknown capability {_show(name)}")
            mask |= 1 << number
        masks[key] = mask
    return CapabilitySets(**masks)


def _mount(fields: _Fields) -> MountSpec:
    destination = fields.get("destination", str)
    if destination is None:
        raise fields.error("destination", "missing")
    if not destination.startswith("/"):
        raise fields.error("destination", f"must be an absolute path, got {_show(destination)}")
    options = tuple(fields.strings("options"))
    kind = fields.get("type", str, "bind" if {"bind", "rbind"} & set(options) else None)
    if kind is None:
        raise fields.error("type", "missing (and no bind option)")
    if {"bind", "rbind"} & set(options):
        kind = "bind"
    if kind not in KNOWN_MOUNT_TYPES:
        raise fields.error("type", f"unsupported mount type {_show(kind)}")
    source = fields.get("source", str)
    if kind == "tmpfs":
        problem = tmpfs_option_problem(options)
        if problem:
            raise fields.error("options", problem)
    if kind == "bind":
        if not source:
            raise fields.error("source", "a bind mount needs a source")
        if not os.path.exists(source):
            raise fields.error("source", f"{source!r} does not exist")
    return MountSpec(destination=os.path.normpath(destination), kind=kind, source=source,
                     read_only="ro" in options, options=options)


def validate_hostname(name: str, where: str) -> None:
    """A host name fits utsname.nodename (64 bytes) and holds no NUL or slash."""
    if not name or len(name.encode()) > 64 or "\0" in name or "/" in name:
        raise BundleError(f"{where}: not a valid host name: {_show(name)}")


# --- tmpfs options ---------------------------------------------------------------------------

#: Options any mount takes (mount(8)), which a tmpfs accepts and a sandbox may ignore.
_GENERIC_OPTIONS = frozenset({
    "defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async",
    "dirsync", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
    "strictatime", "nostrictatime", "lazytime", "nolazytime", "mand", "nomand", "silent", "loud",
    "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
    "tmpcopyup", "notmpcopyup", "noswap", "inode32", "inode64",
})
_TMPFS_SIZE = re.compile(r"[0-9]+[kmg]?|[0-9]+%", re.IGNORECASE)
_TMPFS_COUNT = re.compile(r"[0-9]+[kmg]?", re.IGNORECASE)
_HUGE = frozenset({"never", "always", "within_size", "advise", "deny", "force"})


def tmpfs_option_problem(options: tuple[str, ...] | list[str]) -> str | None:
    """What is wrong with a tmpfs's mount options, as tmpfs(5) and mount(8) take them (None if
    nothing): a known name, and for ``size=``, ``nr_blocks=``, ``nr_inodes=``, ``mode=``,
    ``uid=``, ``gid=`` and ``huge=`` a value of the right form."""
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            if key not in _GENERIC_OPTIONS:
                return f"unknown tmpfs option {option!r}"
            continue
        if key == "size":
            if not _TMPFS_SIZE.fullmatch(value) or not int(value.rstrip("%kmgKMG")):
                return f"tmpfs option {option!r}: expected a size like 64m or 10%"
        elif key in ("nr_blocks", "nr_inodes"):
            if not _TMPFS_COUNT.fullmatch(value):
                return f"tmpfs option {option!r}: expected a number like 1000 or 4k"
        elif key == "mode":
            if not re.fullmatch(r"[0-7]{1,4}", value):
                return f"tmpfs option {option!r}: expected an octal mode like 1777"
        elif key in ("uid", "gid"):
            if not re.fullmatch(r"[0-9]+", value) or int(value) >= 2**32 - 1:
                return f"tmpfs option {option!r}: expected a numeric id"
        elif key == "huge":
            if value not in _HUGE:
                return f"tmpfs option {option!r}: expected one of {', '.join(sorted(_HUGE))}"
        elif key != "mpol":
            return f"unknown tmpfs option {option!r}"
    return None
