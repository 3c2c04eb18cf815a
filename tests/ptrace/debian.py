"""A Debian image with strace and gdb, for the guest-ptrace tests: debootstrap's minbase with
those packages (the way ``python -m kernel image build debian`` installs its packages), built
once per machine under /var/cache/sentrio, with ``/root/crash*`` programs that dereference NULL
compiled in (gcc -g: gdb's backtrace has names and lines)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kernel.images.build import cached_debian

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


def _add_crash_programs(root: Path) -> None:
    source = root / "root" / "crash.c"
    source.write_bytes(CRASH_C)
    for name, flags in CRASHES.items():
        subprocess.run(["gcc", "-g", "-O0", *flags, "-o", str(root / "root" / name), str(source)], check=True)


def debian_with_debuggers() -> Path:
    """The image's root (built now if this machine has none yet: a few minutes)."""
    return cached_debian(f"ptrace-debian-{SUITE}-strace-gdb-1", PACKAGES, suite=SUITE, finish=_add_crash_programs)
