"""Differential testing: the same static program, natively under ``chroot`` and under Sentrio.

A program is compiled at test time in each of several *variants* (glibc static, glibc
static-pie, musl static) into a throwaway image. :func:`run_native` runs it with ``chroot`` and
:func:`run_sentrio` with ``python -m kernel run``; both get exactly the same argv, environment and
stdin, and :class:`Outcome` holds what a user would compare: stdout, stderr and the exit status
as a shell reports it (128+N for a signal).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from abi.creds import CAP_NAMES, DOCKER_DEFAULT_CAPS

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "programs"

#: The environment both runs see: what ``python -m kernel run`` (like docker) gives a guest by
#: default, in its order; the native run is handed the same.
GUEST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOSTNAME": "sentrio",
    "HOME": "/root",
}


@dataclass(frozen=True)
class Variant:
    """A way of building a static program: compiler and flags."""

    name: str
    compiler: str
    flags: tuple[str, ...]

    def available(self) -> bool:
        return shutil.which(self.compiler) is not None


VARIANTS = (
    Variant("glibc", "gcc", ("-static",)),
    Variant("glibc-pie", "gcc", ("-static-pie", "-fPIE")),
    Variant("musl", "musl-gcc", ("-static",)),
)


@dataclass(frozen=True)
class Outcome:
    """What a run showed the user."""

    stdout: str
    stderr: str
    status: int


def cached_build(name: str, sources: Iterable[Path], build: Callable[[Path], None], recipe: bytes = b"") -> Path:
    """A directory ``build`` fills, built once per content of ``sources`` (and ``recipe``) and
    kept under the system temp dir as ``sentrio-NAME-<digest>``. It is built in a staging
    directory and renamed into place, so concurrent runs never see half a build (the first
    rename wins; the loser's staging is removed)."""
    digest = hashlib.sha256(recipe)
    for source in sorted(sources):
        digest.update(source.name.encode() + source.read_bytes())
    root = Path(tempfile.gettempdir()) / f"sentrio-{name}-{digest.hexdigest()[:16]}"
    if not (root / ".done").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"sentrio-{name}-build-"))
        build(staging)
        (staging / ".done").touch()
        try:
            staging.rename(root)
        except OSError:  # another run built it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return root


def binary_name(program: str, variant: Variant) -> str:
    return f"{program}.{variant.name}"


def build_image(root: Path, programs: Iterable[str], variants: Sequence[Variant]) -> None:
    """Compile every program in every available variant into ``root/bin`` (in parallel)."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(p, v) for p in programs for v in variants if v.available()]

    def compile_one(job: tuple[str, Variant]) -> None:
        program, variant = job
        source = PROGRAMS / f"{program}.c"
        output = bin_dir / binary_name(program, variant)
        command = [variant.compiler, *variant.flags, "-O1", "-w", "-o", str(output), str(source)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(compile_one, jobs))


def _shell_status(returncode: int) -> int:
    """subprocess reports a signal death as -N; a shell says 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def fresh_signal_state() -> None:
    """A ``preexec_fn`` giving the native run an empty signal mask and no ignored signal, as a
    container's first process gets (and a guest under Sentrio): the test process may block
    signals (the ptrace platform blocks SIGCHLD in the thread that runs it), the suite may run
    under ``nohup`` (SIGHUP ignored), and both are inherited across fork and exec."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for signo in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}:
        try:
            if signal.getsignal(signo) == signal.SIG_IGN:
                signal.signal(signo, signal.SIG_DFL)
        except (OSError, ValueError):  # a signal Python may not touch (the real-time ones it reserves)
            pass


def as_container_root() -> list[str]:
    """A command prefix that runs natively as a container's root: docker's capability set, not
    this machine's whole one, since a guest's root under Sentrio holds docker's (without it a
    program asking for, say, CAP_SYS_NICE would differ for the wrong reason)."""
    names = [CAP_NAMES[cap][4:].lower() for cap in sorted(CAP_NAMES) if DOCKER_DEFAULT_CAPS >> cap & 1]
    return ["setpriv", "--bounding-set=" + ",".join(["-all", *(f"+{name}" for name in names)]), "--inh-caps=-all"]


def run_native(image: Path, argv: Sequence[str], stdin: bytes = b"", timeout: float = 60) -> Outcome:
    result = subprocess.run([*as_container_root(), "chroot", str(image), *argv], input=stdin, capture_output=True,
                            env=GUEST_ENV, timeout=timeout, preexec_fn=fresh_signal_state)
    return Outcome(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
                   _shell_status(result.returncode))


def run_native_with_proc(image: Path, argv: Sequence[str], timeout: float = 60) -> Outcome:
    """:func:`run_native` with the image's /proc mounted (a proc of its own, in a private mount
    namespace), for programs that read /proc/self as Linux shows it."""
    import shlex

    (image / "proc").mkdir(exist_ok=True)
    chroot = " ".join(shlex.quote(word) for word in [*as_container_root(), "chroot", str(image), *argv])
    script = f"mount -t proc proc {shlex.quote(str(image / 'proc'))} && exec {chroot}"
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, env=GUEST_ENV, timeout=timeout, preexec_fn=fresh_signal_state)
    return Outcome(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
                   _shell_status(result.returncode))


def run_sentrio(image: Path, argv: Sequence[str], stdin: bytes = b"", timeout: float = 120) -> Outcome:
    """Run under Sentrio with the same guest environment and stdin (``-i``, as ``docker run -i``);
    strict mode turns Sentry bugs into loud failures instead of a guest-visible EIO."""
    env = {
        "PATH": os.environ.get("PATH", GUEST_ENV["PATH"]),
        "PYTHONPATH": str(REPO),
        "SENTRIO_STRICT": "1",
    }
    command = [sys.executable, "-m", "kernel", "run", "-i", str(image), "--", *argv]
    result = subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=timeout, cwd=REPO)
    return Outcome(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
                   result.returncode)


def explain(native: Outcome, sentrio: Outcome) -> str:
    """A readable account of how two outcomes differ (unified diffs of the streams)."""
    parts = []
    if native.status != sentrio.status:
        parts.append(f"exit status: native {native.status}, sentrio {sentrio.status}")
    for stream in ("stdout", "stderr"):
        a, b = getattr(native, stream), getattr(sentrio, stream)
        if a != b:
            diff = difflib.unified_diff(a.splitlines(), b.splitlines(), f"native {stream}",
                                        f"sentrio {stream}", lineterm="", n=1)
            parts.append("\n".join(diff))
    return "\n".join(parts)
