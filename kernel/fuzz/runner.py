"""Running fuzz programs: under Sentrio, and natively in a throwaway chroot for differential cases.

A *batch* is one sandbox (``python -m kernel run --memory M IMAGE -- /bin/fuzz-exec``) running
many programs, the executor reporting each on its stdout. The runner reads, per program:

* how it ended and what each call returned (:class:`Outcome`);
* the Sentry's own error log lines while it ran (the executor marks each program on stderr, and
  an unexpected exception in a handler or an actor is logged there with the call and its
  arguments);
* any sleep of the executor that took over a second, and whether the Sentry was busy then: a
  sleep's wall time counts the host's scheduler too, so on a loaded machine a slow sleep is a
  stall of the Sentry only if the Sentry used at least half of it in CPU time (the runner samples
  the Sentry's CPU time and notes when each report arrives; the executor sends it at once);
* whether the Sentry itself died during it;

and samples the Sentry's resident memory meanwhile. Native runs use a copy of the image, a user
of their own (uid 59999: the executor's clean-up kills every process of that user) and rlimits.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kernel.fuzz.program import Program

REPO = Path(__file__).resolve().parents[2]
EXECUTOR_SOURCE = Path(__file__).with_name("executor.c")
#: The user the native runs are: nothing else on the machine may run as it.
NATIVE_USER = 59999
_ADDR_NO_RANDOMIZE = 0x0040000
#: Linux's errnos end here; 512-516 are the kernel's internal restart codes.
LAST_ERRNO = 133


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one program ended (``e<code>``, ``s<signal>`` or ``t`` when it had to be killed),
    how many calls it finished and what they returned (-errno for a failure)."""

    status: str
    done: int
    results: tuple[int, ...]


@dataclass(slots=True)
class Batch:
    """What one run of the executor showed."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    #: The Sentry's error log lines, by the program that was running.
    logs: dict[int, list[str]] = field(default_factory=dict)
    #: Milliseconds the executor was held up while the Sentry was busy, by program.
    stalls: dict[int, int] = field(default_factory=dict)
    #: Milliseconds the executor was held up while the Sentry mostly did not run (the host's load).
    host_stalls: dict[int, int] = field(default_factory=dict)
    #: The program during which the Sentry died, and what it printed then.
    crashed: int | None = None
    crash_text: str = ""
    #: The Sentry's largest resident set while the batch ran, in bytes, and of it the largest
    #: anonymous part (the Sentry's own objects, not the guest memory it maps).
    max_rss: int = 0
    max_anon: int = 0
    seconds: float = 0.0


class ImageError(Exception):
    """The executor could not be built."""


@functools.cache
def executor_image() -> Path:
    """A root directory holding the compiled executor (bin/fuzz-exec), /tmp and /dev/null,
    cached under the temp dir by the source's hash."""
    source = EXECUTOR_SOURCE.read_bytes()
    root = Path(tempfile.gettempdir()) / f"sentrio-fuzz-{hashlib.sha256(source).hexdigest()[:16]}"
    if (root / ".done").exists():
        return root
    staging = Path(tempfile.mkdtemp(prefix="sentrio-fuzz-build-"))
    staging.chmod(0o755)
    for directory in ("bin", "tmp", "dev"):
        (staging / directory).mkdir()
    (staging / "tmp").chmod(0o1777)
    if shutil.which("gcc") is None:
        raise ImageError("the fuzzer's executor needs gcc (and the static C library) to build")
    result = subprocess.run(["gcc", "-static", "-O1", "-o", str(staging / "bin" / "fuzz-exec"), str(EXECUTOR_SOURCE)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ImageError(f"building the executor failed:\n{result.stderr}")
    _make_null(staging)
    (staging / ".done").touch()
    try:
        staging.rename(root)
    except OSError:  # another run built it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _make_null(root: Path) -> None:
    """/dev/null for native runs (a sandbox has its own /dev); a copy would be a plain file."""
    try:
        os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(root / "dev" / "null", 0o666)
    except OSError:
        pass


def _rss(pid: int) -> tuple[int, int]:
    """Process ``pid``'s resident bytes: in all, and its own (anonymous) ones; the rest are the
    files and shared memory it maps (for the Sentry: the guest memory file, tmpfs memfds)."""
    found = {"VmRSS:": 0, "RssAnon:": 0}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key = line.split(":", 1)[0] + ":"
                if key in found:
                    found[key] = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return found["VmRSS:"], found["RssAnon:"]


def _cpu(pid: int) -> float | None:
    """The CPU time (user and system, every thread) process ``pid`` has used, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return None


_TICKS = os.sysconf("SC_CLK_TCK")
#: How often the runner samples the Sentry's memory and CPU time, in seconds.
SAMPLE_EVERY = 0.1


def sentry_busy(samples: list[tuple[float, float]], arrived: float, gap_ms: int) -> bool:
    """Whether the Sentry used at least half of the ``gap_ms`` before ``arrived`` in CPU time,
    from (time, CPU seconds) ``samples``; True when the samples do not cover it (no excuse)."""
    start = arrived - gap_ms / 1000
    before = [cpu for at, cpu in samples if at <= start + SAMPLE_EVERY]
    after = [cpu for at, cpu in samples if at >= arrived - SAMPLE_EVERY]
    if not before or not after:
        return True
    return after[0] - before[-1] >= gap_ms / 1000 / 2


def judge_stalls(batch: Batch, reports: list[tuple[float, int, int]], samples: list[tuple[float, float]]) -> None:
    """Sort the executor's slow sleeps (arrival time, program, ms) into stalls of the Sentry and
    the host's."""
    for arrived, index, gap in reports:
        kind = batch.stalls if sentry_busy(samples, arrived, gap) else batch.host_stalls
        kind[index] = max(kind.get(index, 0), gap)


def _parse_stdout(text: str, batch: Batch) -> None:
    for line in text.splitlines():
        parts = line.split()
        try:
            if parts and parts[0] == "R":
                index, status, done = int(parts[1]), parts[2], int(parts[3])
                batch.outcomes[index] = Outcome(status, done, tuple(int(value) for value in parts[4:4 + done]))
        except (IndexError, ValueError):
            continue


def _stall_reports(lines: list[tuple[float, bytes]]) -> list[tuple[float, int, int]]:
    """The executor's ``S <program> <ms>`` lines: (when each came, program, ms)."""
    reports = []
    for arrived, line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"S":
            with contextlib.suppress(ValueError):
                reports.append((arrived, int(parts[1]), int(parts[2])))
    return reports


def _parse_stderr(text: str, batch: Batch, finished: bool) -> None:
    current = -1
    crash: list[str] = []
    for line in text.splitlines():
        if line.startswith("@P "):
            try:
                current = int(line[3:])
            except ValueError:
                pass
        elif line.startswith("sentrio: ERROR:"):
            batch.logs.setdefault(current, []).append(line[len("sentrio: ERROR: "):])
        elif crash or line.startswith("Traceback") or line.startswith("  + Exception Group"):
            crash.append(line)
    if crash or not finished:
        batch.crashed = current
        batch.crash_text = "\n".join(crash[-40:])


#: The rlimits of native runs: few processes, little memory and file size, no core files. With
#: ``--native`` the sandbox gets the same, and the same user, from an OCI bundle.
NATIVE_LIMITS = {"RLIMIT_NPROC": 256, "RLIMIT_AS": 4 << 30, "RLIMIT_FSIZE": 64 << 20, "RLIMIT_CORE": 0,
                 "RLIMIT_CPU": 300, "RLIMIT_NOFILE": 1024}


def _bundle(image: Path, directory: Path) -> Path:
    """An OCI bundle running the executor as the native runs do: NATIVE_USER, NATIVE_LIMITS."""
    config = {
        "ociVersion": "1.0.2", "root": {"path": str(image)},
        "process": {"args": ["/bin/fuzz-exec"], "cwd": "/", "user": {"uid": NATIVE_USER, "gid": NATIVE_USER},
                    "rlimits": [{"type": name, "soft": value, "hard": value} for name, value in NATIVE_LIMITS.items()]},
    }
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def run_sentrio(programs: list[Program], memory: str = "256m", timeout: float | None = None,
                as_native: bool = False) -> Batch:
    """Run ``programs`` in one sandbox; see :class:`Batch`. ``as_native``: as the user and with
    the limits of the native runs, so that their answers compare."""
    with tempfile.TemporaryDirectory(prefix="sentrio-fuzz-bundle-") as scratch:
        target = [str(_bundle(executor_image(), Path(scratch)))] if as_native \
            else [str(executor_image()), "--", "/bin/fuzz-exec"]
        return _run_sandbox(programs, memory, timeout, target)


def _run_sandbox(programs: list[Program], memory: str, timeout: float | None, target: list[str]) -> Batch:
    env = {key: value for key, value in os.environ.items() if key != "SENTRIO_STRICT"}
    env["PYTHONPATH"] = str(REPO)
    # --network none: random connects and sendtos must not reach real hosts from the fuzzer's machine
    command = [sys.executable, "-m", "kernel", "run", "-i", "--network", "none", "--memory", memory, *target]
    wire = "".join(program.wire() for program in programs)
    batch = Batch()
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, cwd=REPO, start_new_session=True)
    done = threading.Event()
    samples: list[tuple[float, float]] = []
    lines: list[tuple[float, bytes]] = []
    errors: list[bytes] = []

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY):
            rss, anon = _rss(process.pid)
            batch.max_rss, batch.max_anon = max(batch.max_rss, rss), max(batch.max_anon, anon)
            cpu = _cpu(process.pid)
            if cpu is not None:
                samples.append((time.monotonic(), cpu))

    def feed() -> None:
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.write(wire.encode())
        with contextlib.suppress(OSError):
            process.stdin.close()

    def read_stdout() -> None:  # line by line, each with when it came
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.monotonic(), line))

    def read_stderr() -> None:
        assert process.stderr is not None
        errors.append(process.stderr.read())

    threads = [threading.Thread(target=job, daemon=True) for job in (sample, feed, read_stdout, read_stderr)]
    for thread in threads:
        thread.start()
    try:
        process.wait(timeout=timeout or 30 + 2.0 * len(programs))
        finished = process.returncode == 0
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        finished = False
        errors.append(b"\nthe sandbox did not finish in time: killed\n")
    finally:
        done.set()
        for thread in threads:
            thread.join()
    batch.seconds = time.monotonic() - started
    stdout = b"".join(line for _, line in lines)
    stderr = b"".join(errors)
    _parse_stdout(stdout.decode(errors="replace"), batch)
    judge_stalls(batch, _stall_reports(lines), samples)
    _parse_stderr(stderr.decode(errors="replace"), batch, finished)
    if not finished and batch.crashed is None:
        batch.crashed = max(batch.outcomes, default=-1) + 1
    if not finished and not batch.crash_text:
        batch.crash_text = f"the sandbox exited with status {process.returncode}"
    return batch


def _native_limits() -> None:
    """The native run's signal mask (empty), rlimits (NATIVE_LIMITS), and no address-space
    randomization: Sentrio lays mappings out as Linux does without it (``setarch -R``), and
    whether a range fits below the top of user space must not depend on chance."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    ctypes.CDLL(None, use_errno=True).personality(_ADDR_NO_RANDOMIZE)
    for name, value in NATIVE_LIMITS.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def run_native(programs: list[Program], timeout: float | None = None) -> Batch:
    """Run ``programs`` natively: a copy of the executor's image, chrooted, as NATIVE_USER."""
    image = executor_image()
    batch = Batch()
    with tempfile.TemporaryDirectory(prefix="sentrio-fuzz-native-") as scratch:
        root = Path(scratch) / "root"
        shutil.copytree(image, root, symlinks=True, ignore=shutil.ignore_patterns("null"))
        root.chmod(0o755)
        _make_null(root)
        command = ["chroot", f"--userspec={NATIVE_USER}:{NATIVE_USER}", str(root), "/bin/fuzz-exec"]
        wire = "".join(program.wire() for program in programs)
        try:
            result = subprocess.run(command, input=wire.encode(), capture_output=True, preexec_fn=_native_limits,
                                    timeout=timeout or 30 + 2.0 * len(programs))
            stdout = result.stdout
        except subprocess.TimeoutExpired as error:
            stdout = error.stdout or b""
    _parse_stdout(stdout.decode(errors="replace"), batch)
    return batch


def odd_results(outcome: Outcome) -> list[int]:
    """Indexes of results no Linux program can see: an errno Linux does not have, or one of the
    kernel's internal restart codes."""
    return [index for index, value in enumerate(outcome.results) if -4095 <= value < 0 and -value > LAST_ERRNO]


def differs(native: Outcome, sentrio: Outcome) -> str | None:
    """How two runs of one program disagree (the end of the program, or a call's errno), or
    None. A success is a success whatever its value (addresses and times differ); a program
    that had to be killed is not compared (its timing decided)."""
    if "t" in (native.status, sentrio.status):
        return None
    for index, (a, b) in enumerate(zip(native.results, sentrio.results)):
        if (a < 0 or b < 0) and a != b:
            return f"call {index}: native {_errno(a)}, sentrio {_errno(b)}"
    if native.status != sentrio.status:
        return f"program ended: native {native.status}, sentrio {sentrio.status}"
    return None


def _errno(value: int) -> str:
    if not -4095 <= value < 0:
        return "success"
    import errno

    return errno.errorcode.get(-value, str(-value))
