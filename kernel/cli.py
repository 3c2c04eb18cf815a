"""``python -m kernel``: the command line.

``python -m kernel run IMAGE [-- CMD ARGS...]`` runs CMD from IMAGE (a root directory, or an
OCI bundle holding ``config.json`` and ``rootfs/``) in a new sandbox and exits as the guest did:
its exit code, 128+N when signal N killed it, and 125 with one line on stderr when the runtime
itself cannot go on (bad image path, bad flag). 127 means the command is not in the image, 126
that it is not executable.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

#: Exit statuses of the runtime itself, as docker and runsc use them.
EXIT_RUNTIME_ERROR = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as docker does: one line, exit 125."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"sentrio: {message}", file=sys.stderr)
        raise SystemExit(EXIT_RUNTIME_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m kernel", description="Sentrio: a user-space Linux kernel.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a program from an image in a new sandbox")
    run.add_argument("image", help="root directory of the image, or an OCI bundle (config.json + rootfs/)")
    run.add_argument("cmd", nargs=argparse.REMAINDER,
                     help="-- CMD ARGS... (default: the bundle's process.args, else /bin/sh)")
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY[=VALUE]",
                     help="set a variable in the guest's environment (KEY alone passes the host's value)")
    run.add_argument("--env-file", action="append", default=[], metavar="FILE",
                     help="read KEY=VALUE lines from FILE (# comments and blank lines skipped)")
    run.add_argument("-w", "--workdir", metavar="DIR", help="the first process's working directory")
    run.add_argument("-u", "--user", metavar="UID[:GID]",
                     help="run as this user (numbers, or names from the image's /etc/passwd and /etc/group)")
    run.add_argument("-v", "--volume", action="append", default=[], metavar="HOST:GUEST[:ro]",
                     help="mount the host path HOST at GUEST (read-only with :ro)")
    run.add_argument("--tmpfs", action="append", default=[], metavar="PATH[:OPTIONS]",
                     help="mount an empty tmpfs at PATH")
    run.add_argument("--hostname", help="the sandbox's host name (default: the bundle's, else sentrio)")
    writes = run.add_mutually_exclusive_group()
    writes.add_argument("--read-only", action="store_true", help="mount the image root read-only (EROFS)")
    writes.add_argument("--rw", action="store_true",
                           help="let the guest write to the image itself (default: writes go to a tmpfs overlay)")
    run.add_argument("-i", "--interactive", action="store_true", help="keep stdin open (else it reads as empty)")
    run.add_argument("-t", "--tty", action="store_true", help="give the guest a terminal")
    run.add_argument("--memory", type=parse_size, metavar="SIZE", help="guest memory limit, e.g. 512m")
    run.add_argument("--pids-limit", type=_positive, metavar="N",
                     help="most processes and threads in the sandbox (default 1024)")
    run.add_argument("--name", help="the sandbox's id for ps and inspect (default: 12 random hex digits)")
    run.add_argument("--strace", action="store_true", help="print every system call to stderr")
    run.add_argument("--trace-messages", metavar="FILE", help="write one JSON line per bus message to FILE")
    run.add_argument("--service", type=_service, action="append", default=[], metavar="NAME=module:Factory",
                     help="serve NAME with the actor Factory(kernel) returns instead of ours")
    run.add_argument("--plugin", action="append", default=[], metavar="module:function",
                     help="call function(kernel) before boot, e.g. to install syscall hooks")
    run.add_argument("--inject", action="append", default=[], metavar="SERVICE.OP:ACTION[:KEY=VALUE...]",
                     help="inject a fault into bus messages, e.g. gofer.read:fail=EIO:p=0.1 (see docs/research.md)")
    run.add_argument("--seed", type=int, default=0, help="seed of the fault injector's random choices (default 0)")
    run.add_argument("--log-level", default="warning",
                     choices=["debug", "info", "warning", "error"], help="Sentry log level on stderr")
    run.add_argument("--debug-log", metavar="FILE", help="write the Sentry's debug log to FILE")

    image = commands.add_parser("image", help="build and import images").add_subparsers(
        dest="image_command", required=True)
    build = image.add_parser("build", help="build an image on this machine")
    build.add_argument("kind", choices=["demo", "busybox", "debian"],
                       help="demo: /bin/hello from source; busybox: Debian's busybox-static with its applets; "
                            "debian: debootstrap --variant=minbase (cached under /var/cache/sentrio)")
    build.add_argument("directory", help="where to put its root directory")
    import_ = image.add_parser("import", help="unpack a `docker save` archive or an OCI image layout tar")
    import_.add_argument("tarball", help="the archive (docker save, or an OCI layout; may be compressed)")
    import_.add_argument("directory", help="the bundle to create: DIR/config.json and DIR/rootfs/")

    commands.add_parser("ps", help="list running sandboxes")
    inspect = commands.add_parser("inspect", help="a running sandbox and its guest processes, as JSON")
    inspect.add_argument("id", help="the sandbox's id (or a unique prefix of it)")

    commands.add_parser("syscalls", help="print the system call coverage table (Markdown)")
    from kernel import fuzz
    fuzz.add_arguments(commands.add_parser("fuzz", help="fuzz the Sentry with seeded random system calls"))
    return parser


def _load(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UsageError(f"cannot load {target}: {error}") from None


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


def _stdin_for(interactive: bool) -> None:
    """Without ``-i`` the guest's stdin reads as empty, as under docker."""
    if not interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)


def run(args: argparse.Namespace) -> int:
    import outcome
    import trio

    from kernel import control
    from kernel.errors import SentryError
    from kernel.exec import CommandNotExecutable, CommandNotFound
    from kernel.faults import FaultInjector, RuleError
    from kernel.kernel import Kernel
    from kernel.runspec import CommandNotFoundInImage, RunFlags, RunSpecError, build_config
    from kernel.strace import Strace
    from kernel.terminal import HostTerminal
    from kernel.tracing import MessageTracer
    from platforms.ptrace.binding import block_sigchld

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    flags = RunFlags(
        image=args.image, cmd=cmd, env=args.env, env_file=args.env_file, workdir=args.workdir,
        user=args.user, volume=args.volume, tmpfs=args.tmpfs, hostname=args.hostname,
        read_only=args.read_only, rw=args.rw, interactive=args.interactive, tty=args.tty,
        memory=args.memory, pids_limit=args.pids_limit, name=args.name,
    )
    try:
        injector = FaultInjector(args.inject, args.seed) if args.inject else None
    except RuleError as error:
        raise UsageError(str(error)) from None
    try:
        config = build_config(flags)
    except CommandNotFoundInImage as error:
        print(str(error), file=sys.stderr)
        return EXIT_NOT_FOUND
    except RunSpecError as error:
        raise UsageError(str(error)) from None
    config.services = {name: _load(target) for name, target in args.service}
    # Tests set SENTRIO_STRICT=1 so a Sentry bug fails them loudly instead of becoming EIO.
    config.strict = os.environ.get("SENTRIO_STRICT") == "1"
    config.runtime_dir = control.runtime_root()
    block_sigchld()  # before any thread exists, so every thread inherits the mask
    _configure_logging(args.log_level, args.debug_log)

    tracer = None
    sandbox: control.SandboxDirectory | None = None
    terminal: HostTerminal | None = None
    try:
        sandbox = control.SandboxDirectory.create(config.runtime_dir, config)
    except control.SandboxExists as error:
        raise UsageError(str(error)) from None
    except OSError as error:  # not fatal: the sandbox runs, ps and inspect will not see it
        log.warning("no runtime directory under %s (%s): ps and inspect will not see this sandbox",
                    config.runtime_dir, error.strerror or error)
    try:
        if config.tty:
            terminal = HostTerminal(config.interactive)
        else:
            _stdin_for(config.interactive)
        kernel = Kernel(config)
        if terminal is not None:
            terminal.kernel = kernel  # ^C on the terminal signals the guest
            kernel.pty = terminal.pty  # the guest's stdio: a terminal it may set
        if args.strace:
            Strace().install(kernel.syscalls)
        if args.trace_messages:
            tracer = MessageTracer(open(args.trace_messages, "w"))
            kernel.bus.add_interceptor(tracer)
        if injector is not None:
            injector.install(kernel.bus)
        for target in args.plugin:
            _load(target)(kernel)

        async def serve_and_run() -> int:
            async with trio.open_nursery() as nursery:
                if sandbox is not None:
                    await nursery.start(control.serve, kernel, sandbox)
                if terminal is not None:
                    await nursery.start(terminal.serve)
                result = await outcome.acapture(kernel.run)
                nursery.cancel_scope.cancel()
            return result.unwrap()

        with terminal.raw() if terminal is not None else contextlib.nullcontext():
            status = trio.run(serve_and_run)
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
        if sandbox is not None:
            sandbox.remove()
        if terminal is not None:
            terminal.close()
    return wait_status_to_exit_code(status)


def image_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kernel.images.build import ImageBuildError, build_busybox, build_debian, build_demo
    from kernel.images.importer import ImageImportError, import_image

    try:
        if args.image_command == "import":
            import_image(Path(args.tarball), Path(args.directory))
        else:
            builder = {"demo": build_demo, "busybox": build_busybox, "debian": build_debian}[args.kind]
            builder(Path(args.directory))
    except (ImageBuildError, ImageImportError) as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"{error.filename or args.directory}: {error.strerror or error}") from None
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
            return image_command(args)
        if args.command == "fuzz":
            from kernel import fuzz
            return fuzz.main(args)
        if args.command in ("ps", "inspect"):
            from kernel import control
            try:
                return control.print_ps() if args.command == "ps" else control.print_inspect(args.id)
            except control.ControlError as error:
                raise UsageError(str(error)) from None
        return print_syscall_table()
    except UsageError as error:
        print(f"sentrio: {error}", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    except KeyboardInterrupt:
        return 130
