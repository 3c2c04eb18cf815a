"""``python -m kernel image build demo DIR``: the demo image, built from source on this machine.

The demo image is a root directory with one statically linked program, ``/bin/hello``,
compiled here with ``gcc -static`` from ``hello.c`` beside this module, plus the directories a
program expects to find (``/tmp``, ``/etc``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("hello.c")


class ImageBuildError(Exception):
    """The image could not be built; the message says why and what to install."""


def build_demo(root: Path) -> Path:
    """Build the demo image at ``root`` (created if needed); returns the program's path."""
    compiler = shutil.which("gcc")
    if compiler is None:
        raise ImageBuildError("gcc is needed to build the demo image (apt-get install gcc libc6-dev)")
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
