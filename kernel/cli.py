"""``python -m kernel``: the command line.

``python -m kernel run IMAGE [-- CMD ARGS...]`` runs CMD from IMAGE (a root directory, or an
OCI bundle holding ``config.json`` and ``rootfs/``) in a new sandbox and exits as the guest did:
its exit code, 128+N when signal N killed it, and 125 with one line on stderr when the runtime
itself cannot go on (bad image path, bad flag). 127 means the command is not in the image, 126
that it is not executable.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

#: Exit statuses of the runtime itself, as docker and runsc use them.
EXIT_RUNTIME_ERROR = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log = logging.getLogger("sentrio.cli")


class UsageError(Exception):
    """A problem with how Sentrio was invoked; reported in one line, exit 125."""


def parse_size(text: str) -> int:
    """``512m``, ``2G``, ``1048576`` -> bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 512m or 2g)")
    number, unit = match.groups()
    return int(number) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit.lower()]


def _service(text: str) -> tuple[str, str]:
    name, sep, target = text.partition("=")
    if not sep or ":" not in target or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=module:Factory, got {text!r}")
    return name, target


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kernel", description="Sentrio: a user-space Linux kernel.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a program from an image in a new sandbox")
    run.add_argument("image", help="root directory of the image, or an OCI bundle (config.json + rootfs/)")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS... (default: /bin/sh)")
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE",
                     help="set a variable in the guest's environment")
    run.add_argument("--hostname", default="sentrio", help="the sandbox's host name")
    run.add_argument("--memory", type=parse_size, metavar="SIZE", help="guest memory limit, e.g. 512m")
    run.add_argument("--pids-limit", type=int, default=1024, metavar="N",
                     help="most threads and processes the guest may have (fork/clone fail with EAGAIN)")
    run.add_argument("--strace", action="store_true", help="print every system call to stderr")
    run.add_argument("--trace-messages", metavar="FILE", help="write one JSON line per bus message to FILE")
    run.add_argument("--service", type=_service, action="append", default=[], metavar="NAME=module:Factory",
                     help="serve NAME with the actor Factory(kernel) returns instead of ours")
    run.add_argument("--plugin", action="append", default=[], metavar="module:function",
                     help="call function(kernel) before boot, e.g. to install syscall hooks")
    run.add_argument("--log-level", default="warning",
                     choices=["debug", "info", "warning", "error"], help="Sentry log level on stderr")
    run.add_argument("--debug-log", metavar="FILE", help="write the Sentry's debug log to FILE")

    image = commands.add_parser("image", help="build images").add_subparsers(dest="image_command", required=True)
    build = image.add_parser("build", help="build an image from source on this machine")
    build.add_argument("kind", choices=["demo"], help="which image")
    build.add_argument("directory", help="where to put its root directory")

    commands.add_parser("syscalls", help="print the system call coverage table (Markdown)")
    return parser


def _load(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UsageError(f"cannot load {target}: {error}") from None


def resolve_image(path: str) -> str:
    """The root directory of IMAGE: itself, or ``rootfs/`` of an OCI bundle."""
    if not os.path.isdir(path):
        raise UsageError(f"image {path!r} is not a directory")
    if os.path.isfile(os.path.join(path, "config.json")):
        rootfs = os.path.join(path, "rootfs")
        if not os.path.isdir(rootfs):
            raise UsageError(f"bundle {path!r} has config.json but no rootfs/ directory")
        return rootfs
    return path


def guest_environment(assignments: Sequence[str]) -> list[bytes]:
    """The guest's environment: a default PATH and HOME, then each -e KEY=VALUE in order."""
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOME": "/root"}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"bad environment assignment {item!r}")
        if sep:
            env[key] = value
        elif key in os.environ:  # -e KEY passes the host's value, as docker does
            env[key] = os.environ[key]
    return [f"{k}={v}".encode() for k, v in env.items()]


class _OneLineFormatter(logging.Formatter):
    """Console records stay one line each: tracebacks go only to --debug-log."""

    def format(self, record: logging.LogRecord) -> str:
        return self.formatMessage(self._with_message(record))

    @staticmethod
    def _with_message(record: logging.LogRecord) -> logging.LogRecord:
        record.message = record.getMessage()
        return record


def _configure_logging(level: str, debug_log: str | None) -> None:
    root = logging.getLogger("sentrio")
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(getattr(logging, level.upper()))
    console.setFormatter(_OneLineFormatter("sentrio: %(levelname)s: %(message)s"))
    root.addHandler(console)
    if debug_log:
        file = logging.FileHandler(debug_log)
        file.setLevel(logging.DEBUG)
        file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(file)


def wait_status_to_exit_code(status: int) -> int:
    """A guest's wait status as a shell reports it: the code, or 128+signal."""
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return (status >> 8) & 0xFF


def run(args: argparse.Namespace) -> int:
    import trio

    from kernel.errors import SentryError
    from kernel.exec import CommandNotFound, CommandNotExecutable
    from kernel.kernel import Kernel, KernelConfig
    from kernel.strace import Strace
    from kernel.tracing import MessageTracer
    from platforms.ptrace.binding import block_sigchld

    block_sigchld()  # before any thread exists, so every thread inherits the mask
    _configure_logging(args.log_level, args.debug_log)
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    config = KernelConfig(
        image=resolve_image(args.image),
        argv=[os.fsencode(a) for a in (cmd or ["/bin/sh"])],
        env=guest_environment(args.env),
        hostname=args.hostname,
        memory_limit=args.memory,
        pids_limit=args.pids_limit,
        services={name: _load(target) for name, target in args.service},
        # Tests set SENTRIO_STRICT=1 so a Sentry bug fails them loudly instead of becoming EIO.
        strict=os.environ.get("SENTRIO_STRICT") == "1",
    )
    tracer = None
    try:
        kernel = Kernel(config)
        if args.strace:
            Strace().install(kernel.syscalls)
        if args.trace_messages:
            tracer = MessageTracer(open(args.trace_messages, "w"))
            kernel.bus.add_interceptor(tracer)
        for target in args.plugin:
            _load(target)(kernel)
        status = trio.run(kernel.run)
    except CommandNotFound as error:
        print(f"{error.command}: not found in the image", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CommandNotExecutable as error:
        print(f"{error.command}: not executable ({error.reason})", file=sys.stderr)
        return EXIT_NOT_EXECUTABLE
    except SentryError as error:
        raise UsageError(str(error)) from None
    finally:
        if tracer is not None:
            tracer.close()
    return wait_status_to_exit_code(status)


def build_image(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kernel.images.build import ImageBuildError, build_demo

    try:
        build_demo(Path(args.directory))
    except (ImageBuildError, OSError) as error:
        raise UsageError(str(error)) from None
    return 0


def print_syscall_table() -> int:
    from kernel.syscalls.coverage import coverage_markdown

    print(coverage_markdown(), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args)
        if args.command == "image":
            return build_image(args)
        return print_syscall_table()
    except UsageError as error:
        print(f"sentrio: {error}", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    except KeyboardInterrupt:
        return 130
