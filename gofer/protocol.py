"""The gofer protocol: 9P2000.L semantics in msgpack frames. Both ends import this one module.

A frame is one msgpack array ``[type, tag, *fields]`` on a stream socket. ``type`` is the
message's code (9P2000.L's numbers where 9P has the message), ``tag`` names the request a reply
answers, so one connection carries many outstanding requests. Every failed request is answered
by ``Rlerror(errno)``.

What differs from wire 9P, and why:

* Names, link targets and file data are msgpack ``bin`` (Python ``bytes``): Linux file names are
  bytes, not text. Every *name* field (one path component) is checked where it is decoded: the
  empty name, ``.``, ``..`` and names holding ``/`` or NUL are refused. A request carrying one
  decodes to :class:`Invalid` (the server answers ``EINVAL``); a reply carrying one is a
  :class:`ProtocolError` (the gofer is lying).
* Creating messages carry the uid *and* gid of the new file (9P2000.L carries only the gid).
* ``Twalkgetattr`` is a walk that also returns the final file's attributes: one round trip
  where 9P needs two (gVisor's p9 has the same extension).
* ``Twalkattrs`` walks as far as a path goes with every file's attributes, ``Treaddirattr``
  lists a directory with its entries' attributes, ``Treaddirtree`` lists a directory and the
  directories below it, ``Twalkopen`` walks and opens: each one round trip where 9P needs many
  (the Sentry's metadata cache, docs/caching.md).
* ``Rlopen``/``Rlcreate``/``Rwalkopen`` have an ``fd_follows`` flag: when it is true a host fd for the opened
  regular file travels beside that reply's bytes (``SCM_RIGHTS``), and the receiver pairs it
  with the reply; ``Ropenmany`` carries one fd per name whose errno is 0 (:func:`fds_following`).
  Fds are sent in reply order, so a FIFO of received fds suffices.
* Times are integer nanoseconds; attributes and qids are nested arrays, except in listings:
  a :class:`Listing` (what ``Rreaddirattr`` and ``Rreaddirtree`` carry) is three arrays, the
  entries' names, :data:`LISTED_NUMBERS` integers per entry and each entry's symbolic link
  target (empty for any other file), so that the receiver checks a whole listing with a few
  bulk operations instead of a dozen checks per entry, and reads no link again.

Validation is strict because the Sentry must never trust the gofer, nor the gofer the Sentry:
the :class:`Decoder` raises :class:`ProtocolError` — and no other exception — for anything that
is not a well-formed frame of the expected direction, and bounds its buffer.
"""

import enum
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from types import GenericAlias
from typing import Any, NamedTuple, NewType, NoReturn, get_type_hints

import msgpack

from abi.linux import NAME_MAX, PATH_MAX

#: The protocol version string exchanged by Tversion/Rversion.
VERSION = "9P2000.L.msgpack"
#: The largest frame either side accepts before negotiation lowers it.
MAX_MSIZE = 4 << 20
#: The smallest msize a peer may negotiate: enough for any metadata reply.
MIN_MSIZE = 4096
#: Room left in a frame for the header around Rread's/Twrite's data; payload = msize - IOHDR.
IOHDR = 64
#: How many bytes a reader hands the decoder at a time; the decoder's buffer is msize + this.
READ_CHUNK = 256 << 10
#: Tags and fids are 32-bit.
U32_MAX = (1 << 32) - 1
#: The fid that names nothing (9P's NOFID): in Twalkopen, "keep no fid".
NOFID = U32_MAX
#: The most names one Topenmany opens (so its fds fit beside one reply).
OPEN_MANY = 32

# Qid types (9P): what kind of file a qid names.
QTDIR = 0x80
QTSYMLINK = 0x02
QTFILE = 0x00

# Tsetattr.valid bits (9P2000.L).
SETATTR_MODE = 0x001
SETATTR_UID = 0x002
SETATTR_GID = 0x004
SETATTR_SIZE = 0x008
SETATTR_ATIME = 0x010  # set atime to now ...
SETATTR_MTIME = 0x020
SETATTR_ATIME_SET = 0x080  # ... or, with this bit too, to the given atime_ns
SETATTR_MTIME_SET = 0x100

#: Tgetattr.mask / Rgetattr.valid: the basic stat fields (all we serve).
GETATTR_BASIC = 0x7FF

# Tunlinkat.flags take Linux's AT_REMOVEDIR; Trenameat.flags Linux's RENAME_EXCHANGE (swap the
# two names atomically; 9P2000.L has none). Both, and PATH_MAX/NAME_MAX, are abi.linux's.


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame; the connection cannot continue."""


class InvalidName(ValueError):
    """A path component that may not cross the protocol ("", ".", "..", "/" or NUL inside)."""

    errno = 22  # EINVAL


Name = NewType("Name", bytes)
"""One path component, checked by :func:`check_name` wherever it is encoded or decoded."""


def check_name(name: bytes) -> bytes:
    """Return ``name`` if it is a single, real path component; raise InvalidName otherwise."""
    if (not name or name == b"." or name == b".." or b"/" in name or b"\0" in name
            or len(name) > NAME_MAX):
        raise InvalidName(name)
    return name


class Direction(enum.Enum):
    """Which way a message travels: Sentry to gofer, or back."""

    REQUEST = "T"
    REPLY = "R"


# --- field validators (used by the decoder) ------------------------------------------------------


class _Malformed(Exception):
    """A field of the wrong shape (internal; becomes ProtocolError)."""


def _exactly(kind: type) -> Callable[[Any], Any]:
    """A validator accepting values of exactly ``kind`` (so a bool is not taken for an int)."""

    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _Malformed(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


_bytes = _exactly(bytes)
_ints_only = _exactly(int)


def _name(value: Any) -> bytes:
    return check_name(_bytes(value))


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    if item is _ints_only:
        return _int_list
    if item is _name:
        return _name_list

    def check(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Malformed(f"expected array, got {type(value).__name__}")
        return [item(v) for v in value]

    return check


def _int_list(value: Any) -> list[int]:
    """An array of integers, checked at C speed (a listing carries thousands)."""
    if type(value) is not list or (value and {*map(type, value)} != _JUST_INT):
        raise _Malformed("expected an array of integers")
    return value


_NOT_NAMES = frozenset({b".", b".."})


def _name_list(value: Any) -> list[bytes]:
    """An array of names, checked in bulk: all ``bin``, none empty, ``.``, ``..`` or longer
    than NAME_MAX, no ``/`` or NUL inside (one join finds both). The slow path names the bad one."""
    if type(value) is not list:
        raise _Malformed(f"expected array, got {type(value).__name__}")
    if not value:
        return value
    if {*map(type, value)} != _JUST_BYTES:
        raise _Malformed("expected an array of bin")
    joined = b"/".join(value)
    if (joined.count(b"/") != len(value) - 1 or b"\0" in joined or not _NOT_NAMES.isdisjoint(value)
            or not all(value) or max(map(len, value)) > NAME_MAX):
        for name in value:
            check_name(name)
    return value


def _record(cls: type) -> Callable[[Any], Any]:
    hints = get_type_hints(cls)
    checks = tuple(_checker(hints[f]) for f in cls._fields)  # type: ignore[attr-defined]
    size, make = len(checks), tuple.__new__

    if checks and all(hints[f] is int for f in cls._fields):  # type: ignore[attr-defined]
        # Qid, Attr: every field an int, checked at C speed (a reply of directory entries has hundreds).
        def check_ints(value: Any) -> Any:
            if type(value) is not list or len(value) != size or {*map(type, value)} != _JUST_INT:
                raise _Malformed(f"expected {cls.__name__}: an array of {size} integers")
            return make(cls, value)

        return check_ints

    def check(value: Any) -> Any:
        if type(value) is not list or len(value) != size:
            raise _Malformed(f"expected {cls.__name__} array of {size}")
        return make(cls, [c(v) for c, v in zip(checks, value)])

    return check


_JUST_INT = {int}
_JUST_BYTES = {bytes}


def _checker(hint: Any) -> Callable[[Any], Any]:
    """The validator for a field annotated ``hint``."""
    if hint is Name:
        return _name
    if hint is int:
        return _ints_only
    if hint in (bool, bytes, str):
        return _exactly(hint)
    if hint is Listing:
        return _listing
    if isinstance(hint, GenericAlias) and hint.__origin__ is list:
        return _list_of(_checker(hint.__args__[0]))
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return _record(hint)
    raise TypeError(f"no wire form for {hint!r}")


# --- nested values -------------------------------------------------------------------------------


class Qid(NamedTuple):
    """The server's identity of a file: type (QT*), version, path (unique per file: the inode)."""

    type: int
    version: int
    path: int


class Attr(NamedTuple):
    """A file's attributes, as stat(2) reports them (times in nanoseconds)."""

    mode: int
    uid: int
    gid: int
    nlink: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int


class Dirent(NamedTuple):
    """One directory entry; ``offset`` is the cookie that continues the listing after it."""

    qid: Qid
    offset: int
    type: int
    name: Name


class ListedFile(NamedTuple):
    """One entry of a :class:`Listing`, flat: its name, the cookie that continues the listing
    after it, its qid's fields and its file's attributes under :class:`Attr`'s names (so it
    reads as an Attr wherever one is read)."""

    name: bytes
    offset: int
    qid_type: int
    qid_version: int
    ino: int  # the qid's path: the file's inode number
    mode: int
    uid: int
    gid: int
    nlink: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    @property
    def qid(self) -> Qid:
        return Qid(self.qid_type, self.qid_version, self.ino)

    @property
    def attr(self) -> Attr:
        return tuple.__new__(Attr, self[5:])


#: How many integers a Listing carries per entry: the cookie, the qid's three, the attributes.
LISTED_NUMBERS = len(ListedFile._fields) - 1


class Listing(NamedTuple):
    """Directory entries with their files' attributes (as lstat gives them), column-wise: the
    names, :data:`LISTED_NUMBERS` integers for each, in :class:`ListedFile`'s order, and the
    target of each symbolic link (``b""`` for other files, or a link that could not be read:
    no link has an empty target). The decoder checks that the three agree; :meth:`files`
    gives the entries one tuple each."""

    names: list[Name]
    numbers: list[int]
    targets: list[bytes]

    def files(self) -> list[ListedFile]:
        """The entries, made at C speed (no Python code runs per entry)."""
        rows = zip(*[iter(self.numbers)] * LISTED_NUMBERS)
        return list(map(tuple.__new__, repeat(ListedFile), map(tuple.__add__, zip(self.names), rows)))

    @classmethod
    def of(cls, files: Iterable[tuple[Any, ...]], targets: Iterable[bytes] = ()) -> "Listing":
        """The listing of ``files``, ListedFiles or tuples in their order, with the links'
        ``targets`` (one per file; none given: no target known)."""
        names: list[Name] = []
        numbers: list[int] = []
        for name, *rest in files:
            names.append(Name(name))
            numbers += rest
        given = list(targets)
        return cls(names, numbers, given or [b""] * len(names))


def _listing(value: Any) -> "Listing":
    if type(value) is not list or len(value) != 3:
        raise _Malformed("expected Listing: arrays of names, integers and link targets")
    names, numbers, targets = _name_list(value[0]), _int_list(value[1]), value[2]
    if len(numbers) != LISTED_NUMBERS * len(names):
        raise _Malformed(f"a Listing of {len(names)} names needs {LISTED_NUMBERS * len(names)} integers")
    if type(targets) is not list or len(targets) != len(names):
        raise _Malformed(f"a Listing of {len(names)} names needs {len(names)} link targets")
    if targets and ({*map(type, targets)} != _JUST_BYTES or b"\0" in b"".join(targets)
                    or max(map(len, targets)) >= PATH_MAX):
        raise _Malformed("a link target must be bin without NUL, shorter than PATH_MAX")
    return tuple.__new__(Listing, (names, numbers, targets))


class Sublisting(NamedTuple):
    """A directory a Treaddirtree lists besides the first, whole: ``name`` in its parent,
    which is the reply's ``below[parent]``, or the first directory for -1; or, for ``-1 - k``
    (k ≥ 1), the directory is the one ``paths[k]`` leads to and ``name`` its last name."""

    parent: int
    name: Name
    entries: Listing


# --- messages ------------------------------------------------------------------------------------

#: code -> message class, filled by :func:`message`.
MESSAGES: dict[int, type] = {}


def message(code: int) -> Callable[[type], type]:
    """Register a NamedTuple as the message with type ``code`` (odd codes are replies)."""

    def register(cls: type) -> type:
        if code in MESSAGES:
            raise ValueError(f"duplicate message code {code}")
        hints = get_type_hints(cls)
        cls.code = code  # type: ignore[attr-defined]
        cls.direction = Direction.REPLY if code % 2 else Direction.REQUEST  # type: ignore[attr-defined]
        cls.checks = tuple(_checker(hints[f]) for f in cls._fields)  # type: ignore[attr-defined]
        cls.name_fields = tuple(  # type: ignore[attr-defined]
            i for i, f in enumerate(cls._fields)  # type: ignore[attr-defined]
            if hints[f] in (Name, list[Name], list[list[Name]]))
        MESSAGES[code] = cls
        return cls

    return register


@message(7)
class Rlerror(NamedTuple):
    errno: int


@message(8)
class Tstatfs(NamedTuple):
    fid: int


@message(9)
class Rstatfs(NamedTuple):
    type: int
    bsize: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    fsid: int
    namelen: int


@message(12)
class Tlopen(NamedTuple):
    fid: int
    flags: int


@message(13)
class Rlopen(NamedTuple):
    qid: Qid
    iounit: int
    fd_follows: bool


@message(14)
class Tlcreate(NamedTuple):
    """Create ``name`` in directory ``fid`` and open it; ``fid`` then names the new file."""

    fid: int
    name: Name
    flags: int
    mode: int
    uid: int
    gid: int


@message(15)
class Rlcreate(NamedTuple):
    qid: Qid
    iounit: int
    fd_follows: bool


@message(16)
class Tsymlink(NamedTuple):
    dfid: int
    name: Name
    target: bytes
    uid: int
    gid: int


@message(17)
class Rsymlink(NamedTuple):
    qid: Qid


@message(18)
class Tmknod(NamedTuple):
    dfid: int
    name: Name
    mode: int
    major: int
    minor: int
    uid: int
    gid: int


@message(19)
class Rmknod(NamedTuple):
    qid: Qid


@message(22)
class Treadlink(NamedTuple):
    fid: int


@message(23)
class Rreadlink(NamedTuple):
    target: bytes


@message(24)
class Tgetattr(NamedTuple):
    fid: int
    mask: int


@message(25)
class Rgetattr(NamedTuple):
    valid: int
    qid: Qid
    attr: Attr


@message(26)
class Tsetattr(NamedTuple):
    fid: int
    valid: int
    mode: int
    uid: int
    gid: int
    size: int
    atime_ns: int
    mtime_ns: int


@message(27)
class Rsetattr(NamedTuple):
    pass


@message(40)
class Treaddir(NamedTuple):
    """List an opened directory from ``offset`` (0, or a Dirent's cookie), ``count`` bytes' worth."""

    fid: int
    offset: int
    count: int  # type: ignore[assignment]  # the protocol's field, shadowing tuple.count


@message(41)
class Rreaddir(NamedTuple):
    entries: list[Dirent]


@message(50)
class Tfsync(NamedTuple):
    fid: int
    datasync: bool


@message(51)
class Rfsync(NamedTuple):
    pass


@message(70)
class Tlink(NamedTuple):
    dfid: int
    fid: int
    name: Name


@message(71)
class Rlink(NamedTuple):
    pass


@message(72)
class Tmkdir(NamedTuple):
    dfid: int
    name: Name
    mode: int
    uid: int
    gid: int


@message(73)
class Rmkdir(NamedTuple):
    qid: Qid


@message(74)
class Trenameat(NamedTuple):
    """9P2000.L's renameat, with renameat2(2)'s flags (0 or RENAME_EXCHANGE)."""

    olddirfid: int
    oldname: Name
    newdirfid: int
    newname: Name
    flags: int


@message(75)
class Rrenameat(NamedTuple):
    pass


@message(76)
class Tunlinkat(NamedTuple):
    dirfid: int
    name: Name
    flags: int


@message(77)
class Runlinkat(NamedTuple):
    pass


@message(100)
class Tversion(NamedTuple):
    msize: int
    version: str


@message(101)
class Rversion(NamedTuple):
    msize: int
    version: str


@message(104)
class Tattach(NamedTuple):
    """Make ``fid`` the root of the served tree (``aname`` must be empty: one tree per gofer)."""

    fid: int
    aname: str


@message(105)
class Rattach(NamedTuple):
    qid: Qid


@message(108)
class Tflush(NamedTuple):
    """Abandon request ``oldtag``; after Rflush its reply will not come (or came before)."""

    oldtag: int


@message(109)
class Rflush(NamedTuple):
    pass


@message(110)
class Twalk(NamedTuple):
    """Walk ``names`` from ``fid``; only a complete walk binds ``newfid`` (none: a clone)."""

    fid: int
    newfid: int
    names: list[Name]


@message(111)
class Rwalk(NamedTuple):
    qids: list[Qid]


@message(116)
class Tread(NamedTuple):
    fid: int
    offset: int
    count: int  # type: ignore[assignment]  # the protocol's field, shadowing tuple.count


@message(117)
class Rread(NamedTuple):
    data: bytes


@message(118)
class Twrite(NamedTuple):
    fid: int
    offset: int
    data: bytes


@message(119)
class Rwrite(NamedTuple):
    count: int  # type: ignore[assignment]  # the protocol's field, shadowing tuple.count


@message(120)
class Tclunk(NamedTuple):
    fid: int


@message(121)
class Rclunk(NamedTuple):
    pass


@message(126)
class Twalkgetattr(NamedTuple):
    """Twalk, answered with the attributes of the last file reached as well."""

    fid: int
    newfid: int
    names: list[Name]


@message(127)
class Rwalkgetattr(NamedTuple):
    qids: list[Qid]
    attr: Attr


@message(128)
class Treaddirattr(NamedTuple):
    """List a directory from ``offset`` (0, or an entry's cookie), with every entry's
    attributes: one round trip where readdir and a walk+getattr per entry take one each. The
    directory is ``fid``'s (walked, need not be opened) or, with ``names``, the one they lead
    to from ``fid``, which ``newfid`` then names (as Twalk would bind it)."""

    fid: int
    newfid: int
    names: list[Name]
    offset: int
    count: int  # type: ignore[assignment]  # bytes' worth of entries, as Treaddir's


@message(129)
class Rreaddirattr(NamedTuple):
    entries: Listing
    last: bool  # no entries follow these: the Sentry need not ask again


@message(130)
class Twalkattrs(NamedTuple):
    """Walk ``names`` from ``fid`` as far as they go, returning each file reached and its
    attributes; ``newfid`` names the last file reached if it is a directory (nothing else: a
    walk that reaches a file binds no fid), and if no file was reached the reply is Rlerror.
    The walk stops early at a name that is missing or at a file that is not a directory."""

    fid: int
    newfid: int
    names: list[Name]


@message(131)
class Rwalkattrs(NamedTuple):
    qids: list[Qid]
    attrs: list[Attr]


@message(132)
class Twalkopen(NamedTuple):
    """Twalk of ``names`` from ``fid`` to ``newfid``, then Tlopen of ``newfid`` with
    ``flags``: opening a file whose directory the Sentry holds costs one round trip. With
    ``newfid`` :data:`NOFID` no fid is kept: the file is only opened for the fd the reply
    donates (and nothing is to clunk afterwards)."""

    fid: int
    newfid: int
    names: list[Name]
    flags: int


@message(133)
class Rwalkopen(NamedTuple):
    qid: Qid
    iounit: int
    fd_follows: bool


@message(134)
class Treaddirtree(NamedTuple):
    """List directories in one round trip: the one ``paths[0]`` leads to from ``fid`` (as
    Treaddirattr from its start), then, while the reply stays within ``count`` bytes of
    entries, the others of ``paths`` and the directories below all of them, breadth first,
    each listed whole: the part of a tree that a walker (find, du, tar, git) reads next. Each
    path is walked one directory at a time, never through a symbolic link. If the first
    directory's own listing does not fit, the reply holds its first page and nothing more
    (continue with Treaddirattr from the last cookie)."""

    fid: int
    paths: list[list[Name]]
    count: int  # type: ignore[assignment]


@message(135)
class Rreaddirtree(NamedTuple):
    entries: Listing
    last: bool
    below: list[Sublisting]


@message(136)
class Topenmany(NamedTuple):
    """Open several files of one directory for their fds only, keeping no fid: each of
    ``names`` in the directory ``path`` leads to from ``fid`` (walked one directory at a time,
    never through a symbolic link), with ``flags`` and Tlopen's rules for a regular file (a
    directory is EISDIR here); at most :data:`OPEN_MANY` names. The Sentry opens ahead what a
    reader of a directory will open next."""

    fid: int
    path: list[Name]
    names: list[Name]
    flags: int


@message(137)
class Ropenmany(NamedTuple):
    """Per name of the request, in order: the errno its open failed with, or 0 and its qid in
    ``qids`` (a failed one's qid is zeros). The fds of those opened travel beside the reply,
    in the same order."""

    errnos: list[int]
    qids: list[Qid]


# --- extended attributes: the user.* namespace of the host's files (codes from 200, clear of the
# --- 9P2000.L numbers and of this protocol's own extensions above) ---------------------------------


@message(200)
class Txattrget(NamedTuple):
    """The value of attribute ``name`` of ``fid``'s file (user.* only: EOPNOTSUPP otherwise)."""

    fid: int
    name: bytes


@message(201)
class Rxattrget(NamedTuple):
    value: bytes


@message(202)
class Txattrlist(NamedTuple):
    """The names of ``fid``'s file's user.* attributes; with ``name``, of that entry of the
    directory ``fid`` (a file met in a listing has no fid: one request, no walk and clunk)."""

    fid: int
    name: bytes = b""


@message(203)
class Rxattrlist(NamedTuple):
    names: list[bytes]


@message(204)
class Txattrset(NamedTuple):
    """Set user.* attribute ``name`` (``flags``: XATTR_CREATE, XATTR_REPLACE); a --rw gofer only."""

    fid: int
    name: bytes
    value: bytes
    flags: int


@message(205)
class Rxattrset(NamedTuple):
    pass


@message(206)
class Txattrremove(NamedTuple):
    fid: int
    name: bytes


@message(207)
class Rxattrremove(NamedTuple):
    pass


#: Which reply answers each request.
REPLY_TO: dict[type, type] = {
    MESSAGES[code]: MESSAGES[code + 1] for code in MESSAGES if code % 2 == 0
}


def fds_following(reply: Any) -> int:
    """How many host fds travel beside ``reply``."""
    if type(reply) is Ropenmany:
        return reply.errnos.count(0)
    return 1 if getattr(reply, "fd_follows", False) else 0


class Invalid(NamedTuple):
    """A well-framed request that may not be served (a bad name): answer ``Rlerror(errno)``."""

    errno: int
    code: int


# --- encoding ------------------------------------------------------------------------------------

_packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack


def encode(msg: Any, tag: int) -> bytes:
    """One frame carrying ``msg`` under ``tag``; raises InvalidName for a bad path component."""
    check_names(msg)
    frame: bytes = _packb([msg.code, tag, *msg])
    return frame


def check_names(msg: Any) -> None:
    """Raise InvalidName if any name field of ``msg`` is not a single real path component."""
    for index in msg.name_fields:
        value = msg[index]
        if isinstance(value, list):
            for name in value:
                if isinstance(name, list):  # a list of paths
                    for component in name:
                        check_name(component)
                else:
                    check_name(name)
        else:
            check_name(value)


# --- decoding ------------------------------------------------------------------------------------

class Decoder:
    """Turns a byte stream into ``(tag, message)`` pairs, refusing anything malformed.

    ``feed(data)`` then iterate. A complete frame larger than ``max_message``, or unconsumed
    input growing past ``max_message + READ_CHUNK``, is a ProtocolError, as is any frame that is
    not an array of a known message of this decoder's direction with the right fields. After a
    ProtocolError the decoder stays failed.
    """

    def __init__(self, direction: Direction, max_message: int = MAX_MSIZE) -> None:
        self.direction = direction
        self.max_message = max_message
        self._failed: ProtocolError | None = None
        self._unpacker = msgpack.Unpacker(
            max_buffer_size=max_message + READ_CHUNK, raw=False, use_list=True,
            strict_map_key=True, max_map_len=0, max_ext_len=0)

    def feed(self, data: bytes) -> None:
        """Append received bytes; raises ProtocolError if they overflow the bound."""
        self._check_alive()
        try:
            self._unpacker.feed(data)
        except Exception as error:  # BufferFull, or anything msgpack might raise
            self._fail(f"input overflows the {self.max_message}-byte frame bound", error)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        """Yield every complete frame fed so far."""
        while True:
            self._check_alive()
            start = self._unpacker.tell()
            try:
                frame = self._unpacker.unpack()
            except msgpack.OutOfData:
                return
            except Exception as error:  # FormatError, StackError, UnicodeDecodeError, ValueError...
                self._fail("undecodable msgpack", error)
            if self._unpacker.tell() - start > self.max_message:
                self._fail(f"frame larger than {self.max_message} bytes")
            yield self._parse(frame)

    def _parse(self, frame: Any) -> tuple[int, Any]:
        if type(frame) is not list or len(frame) < 2:
            self._fail("frame is not an array [type, tag, ...]")
        code, tag = frame[0], frame[1]
        if type(code) is not int or type(tag) is not int or not 0 <= tag <= U32_MAX:
            self._fail("bad type or tag")
        cls = MESSAGES.get(code)
        if cls is None or cls.direction is not self.direction:  # type: ignore[attr-defined]
            self._fail(f"unexpected message type {code}")
        fields = frame[2:]
        if len(fields) != len(cls._fields):  # type: ignore[attr-defined]
            self._fail(f"{cls.__name__} needs {len(cls._fields)} fields, got {len(fields)}")  # type: ignore
        try:
            return tag, tuple.__new__(cls, [check(v) for check, v in zip(cls.checks, fields)])  # type: ignore
        except _Malformed as error:
            self._fail(f"{cls.__name__}: {error}")
        except InvalidName:
            if self.direction is Direction.REPLY:
                self._fail(f"{cls.__name__} carries an invalid name")
            return tag, Invalid(InvalidName.errno, code)

    def _check_alive(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _fail(self, why: str, cause: BaseException | None = None) -> NoReturn:
        self._failed = ProtocolError(why)
        raise self._failed from cause
