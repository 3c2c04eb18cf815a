"""``python -m kernel image build demo DIR``: the demo image, built from source on this machine.

The demo image is a root directory with one statically linked program, ``/bin/hello``,
compiled here with ``gcc -static`` from ``hello.c`` beside this module, plus the directories a
program expects to find (``/tmp``, ``/etc``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

SOURCE = Path(__file__).with_name("hello.c")


class ImageBuildError(Exception):
    """The image could not be built; the message says why and what to install."""


def _make_root(root: Path) -> None:
    """The image's root directory, mode 0755 as a container's root is, whatever the umask or a
    temporary directory's 0700 gave it: a guest user who is not root must be able to search it."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)


def build_demo(root: Path) -> Path:
    """Build the demo image at ``root`` (created if needed); returns the program's path."""
    compiler = shutil.which("gcc")
    if compiler is None:
        raise ImageBuildError("gcc is needed to build the demo image (apt-get install gcc libc6-dev)")
    _make_root(root)
    for directory in ("bin", "etc", "tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    program = root / "bin" / "hello"
    result = subprocess.run(
        [compiler, "-static", "-O2", "-o", str(program), str(SOURCE)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise ImageBuildError(f"compiling the demo failed:\n{result.stderr.strip()}")
    print(f"demo image ready at {root} (run /bin/hello)", file=sys.stderr)
    return program


#: Where the host's busybox-static package puts its binary.
HOST_BUSYBOX = Path("/bin/busybox")
#: Image directories a program expects to find, and their modes.
_SKELETON = {"bin": 0o755, "sbin": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755, "root": 0o700,
             "home": 0o755, "tmp": 0o1777, "var/tmp": 0o1777, "proc": 0o555, "sys": 0o555, "dev": 0o755}


def _step(message: str) -> None:
    print(f"busybox: {message}", file=sys.stderr)


def build_busybox(root: Path) -> Path:
    """A busybox image at ``root``: Debian's static busybox as /bin/busybox, a symlink per applet
    (``/bin/sh``, ``/usr/bin/awk`` …), and a minimal /etc. Returns the busybox binary's path."""
    if not HOST_BUSYBOX.is_file():
        raise ImageBuildError("the busybox image needs Debian's busybox-static package "
                              "(bash scripts/setup.sh, or apt-get install busybox-static)")
    listing = subprocess.run([str(HOST_BUSYBOX), "--list-full"], capture_output=True, text=True)
    if listing.returncode != 0:
        raise ImageBuildError(f"{HOST_BUSYBOX} --list-full failed: {listing.stderr.strip()}")
    applets = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
    _step(f"copying {HOST_BUSYBOX} ({HOST_BUSYBOX.stat().st_size >> 10} KiB)")
    _make_root(root)
    for directory, mode in _SKELETON.items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory).chmod(mode)
    binary = root / "bin" / "busybox"
    shutil.copyfile(HOST_BUSYBOX, binary)
    binary.chmod(0o755)
    _step(f"linking {len(applets)} applets")
    for applet in applets:
        link = root / applet
        if link == binary or ".." in Path(applet).parts or Path(applet).is_absolute():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/bin/busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "etc" / "hostname").write_text("sentrio\n")
    _step(f"image ready at {root} (try: python -m kernel run {root} -- sh)")
    return binary


#: debootstrap's results are kept here, one root directory per suite, and copied from.
DEBIAN_CACHE = Path("/var/cache/sentrio")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: Packages added to minbase, so the tour's one-liners have an interpreter to run.
DEBIAN_EXTRA = ("python3-minimal",)


def cached_debian(name: str, packages: Sequence[str], *, suite: str = "bookworm",
                  finish: Callable[[Path], None] | None = None) -> Path:
    """``debootstrap --variant=minbase --include=PACKAGES SUITE`` into ``DEBIAN_CACHE/name``, once
    per machine: the slow part of every Debian image the project and its tests use.

    The tree is built in a staging directory beside it, given ``finish(root)`` (files a test
    image adds), marked ``.complete`` and renamed into place, so an interrupted or failed build
    is never mistaken for a finished one and two builds at once cannot mix."""
    cached = DEBIAN_CACHE / name
    if (cached / ".complete").exists():
        return cached
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(f"the {name} image needs debootstrap (apt-get install debootstrap)")
    DEBIAN_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{name}.staging-", dir=DEBIAN_CACHE))
    staging.chmod(0o755)  # it becomes the image's /, which mkdtemp made 0700: unreadable to non-root guests
    try:
        include = f"--include={','.join(packages)}"
        print(f"debian: debootstrap --variant=minbase {include} {suite} into {cached} (a few minutes, once)",
              file=sys.stderr)
        result = subprocess.run(["debootstrap", "--variant=minbase", include, suite, str(staging), DEBIAN_MIRROR],
                                stdout=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ImageBuildError(f"debootstrap failed with status {result.returncode}")
        if finish is not None:
            finish(staging)
        (staging / ".complete").touch()
        if cached.exists() and not (cached / ".complete").exists():
            shutil.rmtree(cached)  # what an older, unstaged build left half done
        try:
            staging.rename(cached)
        except OSError:  # another build finished first: its tree is as good as ours
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cached


def build_debian(root: Path, suite: str = "bookworm") -> Path:
    """A Debian image at ``root`` (``debootstrap --variant=minbase``), cached per suite under
    /var/cache/sentrio so the slow part runs once per machine."""
    cached = cached_debian(f"debian-{suite}-{'-'.join(DEBIAN_EXTRA)}", DEBIAN_EXTRA, suite=suite)
    print(f"debian: copying {cached} to {root}", file=sys.stderr)
    _make_root(root)
    result = subprocess.run(["cp", "-a", "--", f"{cached}/.", str(root)])
    if result.returncode != 0:
        raise ImageBuildError(f"copying the cached image failed with status {result.returncode}")
    (root / ".complete").unlink(missing_ok=True)
    print(f"debian: image ready at {root} (try: python -m kernel run {root} -- python3 -c 'print(6*7)')",
          file=sys.stderr)
    return root
