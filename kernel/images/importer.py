"""``python -m kernel image import TARBALL DIR``: a ``docker save`` archive or an OCI image layout
tar, unpacked into an OCI bundle Sentrio runs: ``DIR/rootfs/`` and ``DIR/config.json``.

Layers are applied in order. A whiteout ``.wh.NAME`` deletes NAME from the layers below; an
opaque marker ``.wh..wh..opq`` empties its directory of what the layers below put there. Both
are applied before the layer's own entries, since they only ever concern lower layers.

Nothing is written outside ``DIR``. The archive is untrusted, so an entry is refused — and the
import stops — when its name is absolute or holds ``..``, when reaching it would pass through
a symbolic link (every directory on the way is opened with ``O_NOFOLLOW`` relative to its parent's
descriptor, never by path), or when a hard link names such a path. Device nodes are skipped.
The image config's Entrypoint + Cmd, Env, WorkingDir and User become the bundle's ``process``.

What an import leaves on the host is what docker leaves in its data root:

* ``DIR`` itself is 0700, so no other host user reaches the image's files — an image may hold
  set-uid programs (they are kept as they are, for the guest), and a host user must not be able
  to run them. ``DIR/rootfs`` keeps the image's own modes (its root entry's, else 0755), so a
  guest user can search ``/``.
* Nothing is written unless everything is: the bundle is built in a fresh 0700 directory beside
  ``DIR`` and renamed into place at the end; a refused or failed import removes it. ``DIR`` must
  not exist yet, or be an empty directory; nothing already in it (a ``config.json`` symlink
  pointing elsewhere, say) is ever opened.
* A size cap holds before a byte is written: each layer's entries are counted first, as the
  blocks they will take (at least one per entry), and an image that would take more than
  ``max_size`` (default: the free space of ``DIR``'s file system) is refused. A 2 MB gzip bomb
  unpacking to 2 GiB is refused, not written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import shutil
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kernel.images.progress import Progress, human_size

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_CHUNK = 1 << 20
#: The largest JSON document (manifest, index, config) read from an archive.
_MAX_JSON = 16 << 20


class ImageImportError(Exception):
    """The archive cannot be imported; the message says why, in one line."""


@dataclass(slots=True)
class ImageLayout:
    """Where an archive keeps its image config and its layers, bottom first."""

    config: str
    layers: list[str]


# --- reading the archive -------------------------------------------------------------------------

def _member(archive: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    name = posixpath.normpath(name.lstrip("/")) if name else name
    try:
        member = archive.getmember(name)
    except KeyError:
        raise ImageImportError(f"the archive has no {name!r}") from None
    if not member.isfile():
        raise ImageImportError(f"{name!r} in the archive is not a regular file")
    return member


def _read_json(archive: tarfile.TarFile, name: str) -> Any:
    member = _member(archive, name)
    if member.size > _MAX_JSON:
        raise ImageImportError(f"{name!r} is too large for a JSON document")
    file = archive.extractfile(member)
    assert file is not None
    try:
        return json.loads(file.read())
    except RecursionError:
        raise ImageImportError(f"{name!r} nests arrays and objects too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ImageImportError(f"{name!r} is not valid JSON: {error}") from None


def _blob(digest: Any) -> str:
    if not isinstance(digest, str) or not digest.startswith("sha256:") or "/" in digest:
        raise ImageImportError(f"unsupported digest {digest!r}")
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _oci_manifest(archive: tarfile.TarFile, descriptor: Any, depth: int = 0) -> dict[str, Any]:
    """Follow an OCI index (possibly nested, possibly multi-platform) to a linux/amd64 manifest."""
    if not isinstance(descriptor, dict) or depth > 4:
        raise ImageImportError("index.json: malformed descriptor")
    document = _read_json(archive, _blob(descriptor.get("digest")))
    media = document.get("mediaType") or descriptor.get("mediaType")
    if media in (_OCI_INDEX, _DOCKER_LIST) or "manifests" in document:
        manifests = document.get("manifests") or []
        chosen = [m for m in manifests if isinstance(m, dict)
                  and m.get("platform", {}).get("os", "linux") == "linux"
                  and m.get("platform", {}).get("architecture", "amd64") == "amd64"]
        if not chosen:
            raise ImageImportError("the image index has no linux/amd64 manifest")
        return _oci_manifest(archive, chosen[0], depth + 1)
    return document


def find_layout(archive: tarfile.TarFile) -> ImageLayout:
    """The config and layers of the (first) image in a docker-save or OCI-layout archive."""
    names = set(archive.getnames())
    if "manifest.json" in names:  # docker save (newer dockers write an OCI layout beside it)
        manifest = _read_json(archive, "manifest.json")
        if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
            raise ImageImportError("manifest.json: expected a list of images")
        image = manifest[0]
        config, layers = image.get("Config"), image.get("Layers")
        if not isinstance(config, str) or not isinstance(layers, list) \
                or not all(isinstance(layer, str) for layer in layers):
            raise ImageImportError("manifest.json: an image needs Config and Layers")
        return ImageLayout(config, layers)
    if "index.json" in names:
        index = _read_json(archive, "index.json")
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if not manifests:
            raise ImageImportError("index.json: no manifests")
        manifest = _oci_manifest(archive, {"digest": manifests[0].get("digest") if isinstance(manifests[0], dict)
                                           else None, "mediaType": manifests[0].get("mediaType")})
        layers = manifest.get("layers")
        if not isinstance(layers, list) or not isinstance(manifest.get("config"), dict):
            raise ImageImportError("the image manifest needs config and layers")
        for layer in layers:
            media = layer.get("mediaType", "") if isinstance(layer, dict) else ""
            if "zstd" in media:
                raise ImageImportError(f"zstd-compressed layers are not supported ({media})")
        return ImageLayout(_blob(manifest["config"].get("digest")), [_blob(layer.get("digest")) for layer in layers])
    raise ImageImportError("not a docker save archive (no manifest.json) nor an OCI image layout (no index.json)")


# --- writing the tree, confined to the root ------------------------------------------------------

def safe_components(name: str) -> list[str]:
    """The path components of an archive entry's name; refuses absolute names and ``..``."""
    if name.startswith("/"):
        raise ImageImportError(f"refusing {name!r}: an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ImageImportError(f"refusing {name!r}: it climbs out with '..'")
    return parts


class Tree:
    """The root directory being written, reached only through directory descriptors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.is_root = os.geteuid() == 0
        #: The last layer's entry for the root itself (``./``), applied by :meth:`set_root`.
        self.root_entry: tarfile.TarInfo | None = None

    def close(self) -> None:
        os.close(self.fd)

    @contextlib.contextmanager
    def parent(self, parts: list[str], entry: str, create: bool = True) -> Iterator[int | None]:
        """A descriptor of the directory holding ``parts[-1]``. Missing directories are created
        (0755) when ``create``; otherwise a path that is not there yields None. A symlink on the
        way is never followed: it is refused when creating, and yields None otherwise."""
        fd = os.dup(self.fd)
        try:
            for part in parts[:-1]:
                made = False
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                        made = True
                try:
                    next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as error:
                    if error.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        raise
                    if create:
                        raise ImageImportError(f"refusing {entry!r}: {part!r} on its way is not a directory "
                                               "(symlinks are never followed)") from None
                    yield None
                    return
                if made:
                    os.fchmod(next_fd, 0o755)  # a directory the image implies, whatever our umask
                os.close(fd)
                fd = next_fd
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def remove(name: str, dir_fd: int) -> None:
        """Delete ``name`` in ``dir_fd`` whatever it is (directories recursively, never following links)."""
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)

    def whiteout(self, parts: list[str], entry: str) -> None:
        """Apply ``.wh.NAME`` (delete NAME) or the opaque marker (empty the directory)."""
        marker = parts[-1]
        with self.parent(parts, entry, create=marker == OPAQUE_MARKER) as fd:
            if fd is None:
                return
            if marker == OPAQUE_MARKER:
                for child in os.listdir(fd):
                    self.remove(child, fd)
            elif not marker.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):  # .wh..wh.* are aufs internals
                target = marker.removeprefix(WHITEOUT_PREFIX)
                if target in ("", ".", ".."):
                    raise ImageImportError(f"refusing {entry!r}: a whiteout of nothing")
                self.remove(target, fd)

    def _metadata(self, name: str, dir_fd: int, member: tarfile.TarInfo, fd: int | None = None) -> None:
        if self.is_root:
            if fd is not None:
                os.fchown(fd, member.uid, member.gid)
            else:
                os.chown(name, member.uid, member.gid, dir_fd=dir_fd, follow_symlinks=False)
        if fd is not None:  # after chown, which clears the set-id bits
            os.fchmod(fd, member.mode & 0o7777)
        if not member.isdir():
            with contextlib.suppress(OSError):
                os.utime(name, ns=(int(member.mtime * 10**9),) * 2, dir_fd=dir_fd, follow_symlinks=False)

    def _metadata_opened(self, name: str, dir_fd: int, member: tarfile.TarInfo, flags: int) -> None:
        """Set ``member``'s owner, mode and time on ``name`` through a descriptor of it (never a link)."""
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=dir_fd)
        try:
            self._metadata(name, dir_fd, member, fd)
        finally:
            os.close(fd)

    def set_root(self, member: tarfile.TarInfo) -> None:
        """The image's own root entry (``./``): its owner and mode for the root directory (set
        once every layer is in, so a root the image makes read-only still gets its files)."""
        if self.is_root:
            os.fchown(self.fd, member.uid, member.gid)
        os.fchmod(self.fd, member.mode & 0o7777)

    def write(self, parts: list[str], member: tarfile.TarInfo, data: IO[bytes] | None,
              progress: Progress) -> None:
        """Create the entry ``parts`` as ``member`` describes, replacing what was there."""
        entry = member.name
        name = parts[-1]
        with self.parent(parts, entry) as dir_fd:
            assert dir_fd is not None
            try:
                existing: os.stat_result | None = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
                self.remove(name, dir_fd)
            if member.isdir():
                if existing is None or not stat.S_ISDIR(existing.st_mode):
                    os.mkdir(name, 0o700, dir_fd=dir_fd)
                self._metadata_opened(name, dir_fd, member, os.O_DIRECTORY)
            elif member.isfile():
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=dir_fd)
                try:
                    assert data is not None
                    while chunk := data.read(_CHUNK):
                        os.write(fd, chunk)
                        progress.advance(len(chunk))
                    self._metadata(name, dir_fd, member, fd)
                finally:
                    os.close(fd)
            elif member.issym():
                os.symlink(member.linkname, name, dir_fd=dir_fd)
                self._metadata(name, dir_fd, member)
            elif member.islnk():
                target = safe_components(member.linkname)
                if not target:
                    raise ImageImportError(f"refusing {entry!r}: a hard link to the root")
                with self.parent(target, entry, create=False) as target_fd:
                    try:
                        if target_fd is None:
                            raise FileNotFoundError
                        os.link(target[-1], name, src_dir_fd=target_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        raise ImageImportError(f"refusing {entry!r}: its link target {member.linkname!r} "
                                               "is not in the image") from None
            elif member.isfifo():
                os.mkfifo(name, 0o600, dir_fd=dir_fd)
                self._metadata_opened(name, dir_fd, member, os.O_NONBLOCK)
            # Device nodes are skipped: a sandbox gets its devices from its own devfs.


class SizeCap:
    """What the import may take on disk, and what it has been counted to take so far.

    An entry counts as the blocks it will take: its data rounded up to the file system's block,
    and at least one block for any entry (its inode and directory entry are not free, and a
    bomb of a million empty files is a bomb too).
    """

    def __init__(self, limit: int, why: str, block: int = 4096) -> None:
        self.limit = limit
        self.why = why
        self.block = max(block, 512)
        self.used = 0

    def cost(self, member: tarfile.TarInfo) -> int:
        size = member.size if member.isfile() else 0
        return max(1, -(-size // self.block)) * self.block

    def charge(self, member: tarfile.TarInfo) -> None:
        self.used += self.cost(member)
        if self.used > self.limit:
            raise ImageImportError(f"refusing the image: it would take more than {human_size(self.limit)} "
                                   f"on disk ({self.why})")

    def describe(self) -> str:
        """For the progress line: ``image: 3.2 MiB of at most 1.0 GiB``."""
        return f"image: {human_size(self.used)} of at most {human_size(self.limit)}"


def read_layer(layer: tarfile.TarFile, cap: SizeCap) -> list[tarfile.TarInfo]:
    """Every entry of a layer, counted against ``cap`` as it is read: a layer too big is refused
    before any of it is written, and before the rest of it is even decompressed."""
    members = []
    for member in layer:
        cap.charge(member)
        members.append(member)
    return members


def apply_layer(tree: Tree, layer: tarfile.TarFile, members: list[tarfile.TarInfo], progress: Progress) -> None:
    """Unpack one layer: every entry's name checked first, then whiteouts, then the entries."""
    checked = [(member, safe_components(member.name)) for member in members]
    for member, parts in checked:
        if parts and parts[-1].startswith(WHITEOUT_PREFIX):
            tree.whiteout(parts, member.name)
    for member, parts in checked:
        if not parts and member.isdir():
            tree.root_entry = member
        if not parts or parts[-1].startswith(WHITEOUT_PREFIX):
            continue  # the root itself, or a whiteout already applied
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.DIRTYPE,
                               tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE,
                               tarfile.BLKTYPE, tarfile.GNUTYPE_SPARSE):
            raise ImageImportError(f"refusing {member.name!r}: unknown entry type {member.type!r}")
        data = layer.extractfile(member) if member.isfile() else None
        tree.write(parts, member, data, progress)


# --- the bundle's config.json --------------------------------------------------------------------

def bundle_config(image_config: Any, rootfs: Path) -> dict[str, Any]:
    """An OCI runtime config from a docker/OCI image config (Entrypoint, Cmd, Env, WorkingDir, User)."""
    from kernel.images.rootfs import ImageFiles
    from kernel.runspec import RunSpecError, image_user

    config = image_config.get("config") if isinstance(image_config, dict) else None
    config = config if isinstance(config, dict) else {}

    def strings(key: str) -> list[str]:
        value = config.get(key) or []
        if isinstance(value, str):  # a shell-form string in some hand-made configs
            value = ["/bin/sh", "-c", value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ImageImportError(f"image config: {key} must be a list of strings")
        return value

    args = strings("Entrypoint") + strings("Cmd")
    env = strings("Env")
    cwd = config.get("WorkingDir") or "/"
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ImageImportError(f"image config: WorkingDir must be an absolute path, got {cwd!r}")
    user = config.get("User") or ""
    uid = gid = 0
    if user:
        with ImageFiles(str(rootfs)) as root:
            try:
                uid, gid, _, _ = image_user(root, str(user), None)
            except RunSpecError as error:
                raise ImageImportError(f"image config: User {user!r}: {error}") from None
    process: dict[str, Any] = {"terminal": False, "user": {"uid": uid, "gid": gid}, "env": env, "cwd": cwd}
    if args:
        process["args"] = args
    return {"ociVersion": "1.0.2", "process": process, "root": {"path": "rootfs", "readonly": False}}


# --- the command ---------------------------------------------------------------------------------

def import_image(tarball: Path, directory: Path, max_size: int | None = None) -> Path:
    """Import ``tarball`` into the bundle ``directory`` (new, or an empty directory); returns its
    path. ``max_size``: the most the image may take on disk (default: the free space there)."""
    directory = Path(os.path.abspath(directory))
    _check_target(directory)
    try:
        archive = tarfile.open(tarball, "r:*")
    except OSError as error:
        raise ImageImportError(f"cannot read {str(tarball)!r}: {error.strerror or error}") from None
    except tarfile.TarError:
        raise ImageImportError(f"cannot read {str(tarball)!r}: not a tar archive (plain, gzip, bzip2 or xz)") from None
    with archive:
        layout = find_layout(archive)
        image_config = _read_json(archive, layout.config)
        made_parents = _make_parents(directory.parent)
        work: Path | None = None
        try:
            cap = _size_cap(directory.parent, max_size)
            work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.import-", dir=directory.parent))  # 0700
            _unpack(archive, layout, work / "rootfs", cap)
            config = bundle_config(image_config, work / "rootfs")
            fd = os.open(work / "config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644)
            with open(fd, "w") as file:
                file.write(json.dumps(config, indent=2) + "\n")
            try:
                os.rename(work, directory)  # an empty directory is replaced; anything else refuses
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise ImageImportError(_taken(directory)) from None
                raise
        except BaseException:
            if work is not None:
                _discard(work)
            for parent in reversed(made_parents):
                with contextlib.suppress(OSError):
                    parent.rmdir()
            raise
    return directory


def _taken(directory: Path) -> str:
    return f"{str(directory)!r} already exists and is not an empty directory; import into a new directory"


def _check_target(directory: Path) -> None:
    """``directory`` must not exist yet, or be an empty directory (never followed if a link)."""
    try:
        info = directory.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise ImageImportError(f"{str(directory)!r}: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ImageImportError(_taken(directory))
    with os.scandir(directory) as entries:
        if any(entries):
            raise ImageImportError(_taken(directory))


def _make_parents(parent: Path) -> list[Path]:
    """Make ``parent`` and any missing directory above it; the ones made, outermost first."""
    missing = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    made = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            for done in reversed(made):
                with contextlib.suppress(OSError):
                    done.rmdir()
            raise ImageImportError(f"cannot make {str(path)!r}: {error.strerror}") from None
        made.append(path)
    return made


def _size_cap(where: Path, max_size: int | None) -> SizeCap:
    try:
        fs = os.statvfs(where)
    except OSError as error:
        raise ImageImportError(f"{str(where)!r}: {error.strerror}") from None
    if max_size is not None:
        return SizeCap(max_size, "--max-size", fs.f_frsize)
    return SizeCap(fs.f_bavail * fs.f_frsize, f"the free space of the file system of {str(where)!r}", fs.f_frsize)


def _unpack(archive: tarfile.TarFile, layout: ImageLayout, rootfs: Path, cap: SizeCap) -> None:
    """Apply every layer into ``rootfs`` (made here, 0755 until the image's root entry says)."""
    rootfs.mkdir()
    rootfs.chmod(0o755)
    tree = Tree(rootfs)
    try:
        for number, name in enumerate(layout.layers, 1):
            member = _member(archive, name)
            blob = archive.extractfile(member)
            assert blob is not None
            try:
                layer = tarfile.open(fileobj=blob, mode="r:*")
            except tarfile.TarError:
                raise ImageImportError(f"layer {number} ({name}) is not a tar archive "
                                       "(plain, gzip, bzip2 or xz)") from None
            with layer:
                members = read_layer(layer, cap)
                total = sum(m.size for m in members if m.isfile())
                progress = Progress(f"layer {number}/{len(layout.layers)}", total, note=cap.describe())
                apply_layer(tree, layer, members, progress)
                progress.done()
        if tree.root_entry is not None:
            tree.set_root(tree.root_entry)
    except tarfile.TarError as error:
        raise ImageImportError(f"the archive is damaged: {error}") from None
    finally:
        tree.close()


def _discard(path: Path) -> None:
    """Remove a half-made import, directories the image made read-only included."""
    def writable(function: Any, name: str, _error: Any) -> None:
        os.chmod(os.path.dirname(name), 0o700)  # a directory of our own 0700 tree
        function(name)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=writable)
        else:
            shutil.rmtree(path, onerror=writable)
    except OSError:
        pass  # nothing more can be done; the name starts with a dot and says what it was
