"""A Debian image with strace and gdb, for the guest-ptrace tests: debootstrap's minbase with
those packages (the way ``python -m kernel image build debian`` installs its packages), built
once per machine under /var/cache/sentrio, with ``/root/crash*`` programs that dereference NULL
compiled in (gcc -g: gdb's backtrace has names and lines)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from kernel.images.build import DEBIAN_CACHE, DEBIAN_MIRROR

SUITE = "bookworm"
#: (gdb's libsource-highlight depends on a package only provided by libboost-regex1.74.0, a
#: dependency debootstrap's resolver cannot follow by itself)
PACKAGES = ("strace", "gdb", "libboost-regex1.74.0")
CRASH_C = b"""#include <stdio.h>
static int deref(int *p) { return *p; }
int main(void) { int *volatile p = 0; printf("about to crash\\n"); fflush(stdout); return deref(p); }
"""
#: The crash programs: name -> gcc flags.
CRASHES = {"crash": ("-no-pie",), "crash-pie": ("-pie", "-fPIE")}
IMAGE = DEBIAN_CACHE / f"ptrace-debian-{SUITE}-strace-gdb-1"


def debian_with_debuggers() -> Path:
    """The image's root (built now if this machine has none yet: a few minutes)."""
    if (IMAGE / ".complete").exists():
        return IMAGE
    DEBIAN_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="ptrace-debian-", dir=DEBIAN_CACHE))
    try:
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(staging),
                        DEBIAN_MIRROR], check=True, stdout=subprocess.DEVNULL)
        source = staging / "root" / "crash.c"
        source.write_bytes(CRASH_C)
        for name, flags in CRASHES.items():
            subprocess.run(["gcc", "-g", "-O0", *flags, "-o", str(staging / "root" / name), str(source)], check=True)
        (staging / ".complete").touch()
        try:
            staging.rename(IMAGE)
        except OSError:  # another run finished first
            pass
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return IMAGE
