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
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
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


def _published(text: str) -> object:
    """``-p [IP:]HOST_PORT:GUEST_PORT[/tcp]``."""
    from kernel.publish import PublishedPort, PublishError

    try:
        return PublishedPort.parse(text)
    except PublishError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


#: ``--memory`` below this cannot run a program at all (docker refuses under 6 MiB too).
MIN_MEMORY = 6 << 20


def _network(value: str) -> str:
    """``--network``: sandbox or none; ``host`` is refused with the reason."""
    if value == "host":
        raise argparse.ArgumentTypeError("host is not offered: it would hand the host's network stack to the guest "
                                         "(use the default, sandbox, or -p to publish a port)")
    if value not in ("sandbox", "none"):
        raise argparse.ArgumentTypeError(f"{value!r}: use sandbox or none")
    return value


def _memory(text: str) -> int:
    """``--memory``: a size from 6m up to what a guest can address."""
    from abi.linux import TASK_SIZE

    size = parse_size(text)
    if size < MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"{text!r} is too little memory to run anything (the least is 6m)")
    if size > TASK_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r} is more memory than a guest can address (at most 127t)")
    return size


def _byte_limit(text: str) -> int:
    """A positive size, e.g. ``--max-size 2g``."""
    size = parse_size(text)
    if size <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return size


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as docker does a bad flag: one line on stderr
    (``sentrio: MESSAGE``) and exit 125, never the usage screen. Subcommands' parsers are of
    this class too (argparse makes them with the parent's class)."""

    def error(self, message: str) -> NoReturn:
        print(f"sentrio: {' '.join(message.split())}", file=sys.stderr)
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
    run.add_argument("-p", "--publish", type=_published, action="append", default=[],
                     metavar="[IP:]HOST_PORT:GUEST_PORT[/udp]",
                     help="let host TCP (or UDP) port HOST_PORT (on IP, default all) reach the guest's server on "
                          "GUEST_PORT")
    run.add_argument("--network", type=_network, default=None, metavar="sandbox|none",
                     help="sandbox (default): the guest's connections out of the sandbox are made on the host "
                          "by the net helper; none: loopback only")
    run.add_argument("--allow-host-loopback", action="store_true",
                     help="let the gateway address 10.0.2.2 reach the host's own loopback (127.0.0.1)")
    run.add_argument("--dns", action="append", default=[], metavar="IP",
                     help="an upstream resolver for the sandbox's DNS (default: the host's); none: keep the "
                          "image's /etc/resolv.conf")
    run.add_argument("--add-host", action="append", default=[], metavar="NAME:IP",
                     help="add NAME to the guest's /etc/hosts (IP may be host-gateway: 10.0.2.2)")
    run.add_argument("--no-hosts", action="store_true", help="keep the image's /etc/hosts")
    run.add_argument("--no-hostname", action="store_true", help="keep the image's /etc/hostname")
    writes = run.add_mutually_exclusive_group()
    writes.add_argument("--read-only", action="store_true", help="mount the image root read-only (EROFS)")
    writes.add_argument("--rw", action="store_true",
                           help="let the guest write to the image itself (default: writes go to a tmpfs overlay)")
    run.add_argument("--gofer-io", choices=("fd", "rpc"), default="fd",
                     help="how image and volume files' data moves: host fds the gofers donate (default), "
                          "or gofer read/write messages on the bus (rpc; docs/caching.md)")
    run.add_argument("-i", "--interactive", action="store_true", help="keep stdin open (else it reads as empty)")
    run.add_argument("-t", "--tty", action="store_true", help="give the guest a terminal")
    run.add_argument("--memory", type=_memory, metavar="SIZE", help="guest memory limit, e.g. 512m (at least 6m)")
    run.add_argument("--pids-limit", type=_positive, metavar="N",
                     help="most processes and threads in the sandbox (default 1024)")
    run.add_argument("--name", help="the sandbox's id for ps and inspect (default: 12 random hex digits)")
    run.add_argument("--cap-add", action="append", default=[], metavar="CAP",
                     help="add a capability to docker's default set (CHOWN or CAP_CHOWN; ALL for every one)")
    run.add_argument("--cap-drop", action="append", default=[], metavar="CAP",
                     help="drop a capability from docker's default set (ALL: keep only those added)")
    run.add_argument("--strace", action="store_true", help="print every system call to stderr")
    run.add_argument("--trace-messages", metavar="FILE", help="write one JSON line per bus message to FILE")
    run.add_argument("--service", type=_service, action="append", default=[], metavar="NAME=module:Factory",
                     help="serve NAME with the actor Factory(kernel) returns instead of ours")
    run.add_argument("--plugin", action="append", default=[], metavar="module:function",
                     help="call function(kernel) before boot, e.g. to install syscall hooks")
    run.add_argument("--inject", action="append", default=[], metavar="SERVICE.OP:ACTION[:KEY=VALUE...]",
                     help="inject a fault into bus messages, e.g. vfs.read:fail=EIO:p=0.1 (see docs/research.md)")
    run.add_argument("--seed", type=int, default=None,
                     help="seed of the fault injector's (and --deterministic's) random choices (default 0)")
    run.add_argument("--deterministic", action="store_true",
                     help="one guest thread at a time in an order drawn from --seed; virtual time; seeded "
                          "getrandom and /dev/urandom (see docs/research.md)")
    run.add_argument("--chaos", action="store_true",
                     help="with --deterministic (implied): draw the next thread at every system call, to find races")
    run.add_argument("--experiment", metavar="FILE",
                     help="run the experiment FILE describes (TOML: rules, seed, trace, services, command)")
    run.add_argument("--log-level", default="warning",
                     choices=["debug", "info", "warning", "error"], help="Sentry log level on stderr")
    run.add_argument("--debug-log", metavar="FILE", help="write the Sentry's debug log to FILE")
    run.add_argument("--debug-unconfined", action="store_true",
                     help="debugging only: run the Sentry and its stubs without namespaces, uid change or "
                          "seccomp (the gofers stay confined)")

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
    import_.add_argument("--max-size", type=_byte_limit, metavar="SIZE",
                         help="refuse an image that would take more than SIZE on disk, e.g. 2g "
                              "(default: the free space where DIR goes)")

    commands.add_parser("ps", help="list running sandboxes")
    inspect = commands.add_parser("inspect", help="a running sandbox and its guest processes, as JSON")
    inspect.add_argument("id", help="the sandbox's id (or a unique prefix of it)")

    commands.add_parser("syscalls", help="print the system call coverage table (Markdown)")
    serve = commands.add_parser("serve", help="keep a warmed-up Sentry that forks each run (kernel/zygote)")
    serve.add_argument("--socket", metavar="PATH",
                       help="where to listen (default: $SENTRIO_ZYGOTE, or zygote.sock in the runtime root)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    from kernel import tracetools
    tracetools.add_arguments(commands.add_parser("trace", help="read back a --trace-messages file"))
    from kernel import fuzz
    fuzz.add_arguments(commands.add_parser("fuzz", help="fuzz the Sentry with seeded random system calls"))
    return parser


def _load(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    try:
        loaded = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UsageError(f"cannot load {target}: {error}") from None
    except Exception as error:  # the module itself fails as it is imported
        raise UsageError(f"cannot load {target}: {type(error).__name__}: {error}".splitlines()[0]) from None
    if not callable(loaded):
        raise UsageError(f"cannot load {target}: {type(loaded).__name__} object is not callable")
    return loaded


def _load_services(services: list[tuple[str, str]]) -> dict[str, Callable[..., Any]]:
    """``--service NAME=module:Factory`` flags -> factories; a name the kernel does not know is
    refused before anything is imported (the kernel checks the actors they make at boot)."""
    from kernel.kernel import DEFAULT_SERVICES

    for name, target in services:
        if name not in DEFAULT_SERVICES:
            raise UsageError(f"--service {name}={target}: no service named {name!r} "
                             f"(services: {', '.join(DEFAULT_SERVICES)})")
    return {name: _load(target) for name, target in services}


class _OneLineFormatter(logging.Formatter):
    """Console records stay one line each: tracebacks go only to --debug-log."""

    def format(self, record: logging.LogRecord) -> str:
        return self.formatMessage(self._with_message(record))

    @staticmethod
    def _with_message(record: logging.LogRecord) -> logging.LogRecord:
        record.message = record.getMessage()
        return record


def _output_file(path: str, flag: str, mode: str = "w") -> Any:
    """A file a flag names for the Sentry to write (``--trace-messages``, ``--debug-log``),
    opened before anything starts; UsageError, in one line, if it cannot be."""
    try:
        return open(path, mode, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{flag} {path!r}: {error.strerror or error}") from None


def _configure_logging(level: str, debug_log: Any | None) -> None:
    """The console gets one line per record at ``level``; ``debug_log`` (an open file) all of it."""
    root = logging.getLogger("sentrio")
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(getattr(logging, level.upper()))
    console.setFormatter(_OneLineFormatter("sentrio: %(levelname)s: %(message)s"))
    root.addHandler(console)
    if debug_log is not None:
        file = logging.StreamHandler(debug_log)
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


#: Signals the Sentry passes on to the guest's first process, as ``docker run`` does; a second
#: one shuts the sandbox down.
RELAYED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A relayed signal that ends the sandbox: the exit status is 128+signo."""

    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


class SignalRelay:
    """SIGINT, SIGTERM and SIGHUP sent to the Sentry while it runs a sandbox.

    The first one goes on to the guest's first process (sent from outside its pid namespace:
    si_pid 0, and an init without a handler for it ignores it, as on Linux); the second, or one
    that comes before the guest exists, shuts the sandbox down with status 128+N. While trio
    runs, :meth:`serve` receives them; before and after, the handler raises :class:`Interrupted`
    so every way out goes through the CLI's clean-up (the runtime directory, the terminal).
    """

    def __init__(self) -> None:
        #: Set when a signal has shut the sandbox down: the exit status is 128 + this.
        self.shutdown: int | None = None
        self._forwarded = False
        #: Signals that came while deferred (see :meth:`deferred`).
        self._early: list[int] = []
        self._deferring = False
        self._previous: dict[int, Any] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        for signo in RELAYED_SIGNALS:
            self._previous[signo] = signal.signal(signo, self._handle)
        try:
            yield
        finally:
            for signo, handler in self._previous.items():
                signal.signal(signo, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals that come inside are kept, not raised: around ``trio.run`` (:meth:`serve`
        takes them; an exception must not land in trio's own code) and around clean-up.
        One still kept on the way out raises Interrupted then."""
        outer, self._deferring = self._deferring, True
        try:
            yield
        finally:
            self._deferring = outer
        if self._early and not outer:
            signo, self._early = self._early[0], []
            raise Interrupted(signo)

    def _handle(self, signo: int, _frame: Any) -> None:
        if self._deferring:
            self._early.append(signo)
        else:
            raise Interrupted(signo)

    async def serve(self, kernel: Any, sandbox_scope: Any, task_status: Any) -> None:
        import trio

        with trio.open_signal_receiver(*RELAYED_SIGNALS) as received:
            task_status.started()
            early, self._early = self._early, []
            for signo in early:
                if await self._relay(kernel, signo, sandbox_scope):
                    return
            async for signo in received:
                if await self._relay(kernel, signo, sandbox_scope):
                    return

    async def _relay(self, kernel: Any, signo: int, sandbox_scope: Any) -> bool:
        """Pass ``signo`` on, or shut down; True once the sandbox is shutting down."""
        from abi.errno import Errno
        from abi.linux import SI_USER
        from abi.structs import SIGINFO_KILL

        init = kernel.processes.get(1)
        if self._forwarded or init is None or init.zombie:
            log.info("signal %d: shutting the sandbox down", signo)
            self.shutdown = signo
            sandbox_scope.cancel()
            return True
        self._forwarded = True
        log.info("signal %d: passed on to the guest's first process", signo)
        info = SIGINFO_KILL.pack(signo, 0, SI_USER, 0, 0, 0)  # from outside its pid namespace: no pid
        try:
            await kernel.bus.call("signals", "send", init.pid, None, signo, info)
        except Errno:
            pass  # init is on its way out
        return False


def run(args: argparse.Namespace) -> int:
    """``run``: the exit status docker would give (see the module's docstring)."""
    relay = SignalRelay()
    with relay.installed():
        try:
            return _run(args, relay)
        except Interrupted as interrupted:
            return 128 + interrupted.signo


def _run(args: argparse.Namespace, relay: SignalRelay) -> int:
    import outcome
    import trio

    from kernel import control
    from kernel.confine.sentry import keeper_removes_runtime_directory
    from kernel.errors import SentryError
    from kernel.exec import CommandNotExecutable, CommandNotFound
    from kernel.experiment import ExperimentError, ResearchTools
    from kernel.faults import RuleError
    from kernel.kernel import Kernel
    from kernel.publish import Publisher, PublishError
    from kernel.runspec import CommandNotFoundInImage, RunFlags, RunSpecError, build_config
    from kernel.terminal import HostTerminal
    from platforms.ptrace.binding import block_sigchld

    try:
        tools = ResearchTools(args, sys.argv)
    except (RuleError, ExperimentError) as error:
        raise UsageError(str(error)) from None
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    flags = RunFlags(
        image=args.image, cmd=cmd, env=args.env, env_file=args.env_file, workdir=args.workdir,
        user=args.user, volume=args.volume, tmpfs=args.tmpfs, hostname=args.hostname,
        read_only=args.read_only, rw=args.rw, interactive=args.interactive, tty=args.tty,
        memory=args.memory, pids_limit=args.pids_limit, name=args.name,
        cap_add=args.cap_add, cap_drop=args.cap_drop,
        network=args.network, allow_host_loopback=args.allow_host_loopback, dns=args.dns, add_host=args.add_host,
        no_hosts=args.no_hosts, no_hostname=args.no_hostname,
    )
    try:
        config = build_config(flags)
    except CommandNotFoundInImage as error:
        print(str(error), file=sys.stderr)
        return EXIT_NOT_FOUND
    except RunSpecError as error:
        raise UsageError(str(error)) from None
    rpc = [("gofer", "services.gofer_proxy.actor:rpc_gofer")] if args.gofer_io == "rpc" else []
    config.services = _load_services(rpc + args.service)
    config.confine = not args.debug_unconfined
    # Tests set SENTRIO_STRICT=1 so a Sentry bug fails them loudly instead of becoming EIO.
    config.strict = os.environ.get("SENTRIO_STRICT") == "1"
    config.runtime_dir = control.runtime_root()
    # Every file the Sentry will write is opened now: a bad path is one line, before anything starts.
    debug_log = _output_file(args.debug_log, "--debug-log", "a") if args.debug_log else None
    trace_file = _output_file(args.trace_messages, "--trace-messages") if args.trace_messages else None
    block_sigchld()  # before any thread exists, so every thread inherits the mask
    _configure_logging(args.log_level, debug_log)

    publisher: Publisher | None = None
    sandbox: control.SandboxDirectory | None = None
    terminal: HostTerminal | None = None
    try:
        try:
            sandbox = control.SandboxDirectory.create(config.runtime_dir, config)
        except control.SandboxExists as error:
            raise UsageError(str(error)) from None
        except OSError as error:  # not fatal: the sandbox runs, ps and inspect will not see it
            log.warning("no runtime directory under %s (%s): ps and inspect will not see this sandbox",
                        config.runtime_dir, error.strerror or error)
        if config.tty:
            terminal = HostTerminal(config.interactive)
        else:
            _stdin_for(config.interactive)
        publisher = Publisher(tuple(args.publish)) if args.publish else None  # before confinement
        kernel = Kernel(config)
        if terminal is not None:
            terminal.kernel = kernel  # ^C on the terminal signals the guest
            kernel.pty = terminal.pty  # the guest's stdio: a terminal it may set
        tools.install(kernel, trace_file)
        for target in args.plugin:
            _load(target)(kernel)

        async def serve_and_run() -> int:
            async with trio.open_nursery() as nursery:
                await nursery.start(relay.serve, kernel, nursery.cancel_scope)
                if sandbox is not None:
                    await nursery.start(control.serve, kernel, sandbox)
                if terminal is not None:
                    await nursery.start(terminal.serve)
                if publisher is not None:
                    await nursery.start(publisher.serve, kernel)
                result = await outcome.acapture(kernel.run)
                nursery.cancel_scope.cancel()
            if relay.shutdown is not None:
                return relay.shutdown  # the wait status of a death by that signal
            return result.unwrap()

        with terminal.raw() if terminal is not None else contextlib.nullcontext(), relay.deferred():
            status = trio.run(serve_and_run, clock=tools.clock)
    except CommandNotFound as error:
        print(f"{error.command}: not found in the image", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CommandNotExecutable as error:
        print(f"{error.command}: not executable ({error.reason})", file=sys.stderr)
        return EXIT_NOT_EXECUTABLE
    except (SentryError, PublishError) as error:
        raise UsageError(str(error)) from None
    finally:
        with relay.deferred():  # a signal now must not cut the clean-up short
            if publisher is not None:
                publisher.close()
            tools.finish(sys.stderr)
            if trace_file is not None:
                trace_file.close()
            if sandbox is not None and not keeper_removes_runtime_directory():
                sandbox.remove()  # a confined Sentry's keeper removes it once the Sentry is gone
            if terminal is not None:
                terminal.close()
    return wait_status_to_exit_code(status)


def image_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kernel.images.build import ImageBuildError, build_busybox, build_debian, build_demo
    from kernel.images.importer import ImageImportError, import_image

    try:
        if args.image_command == "import":
            import_image(Path(args.tarball), Path(args.directory), args.max_size)
        else:
            builder = {"demo": build_demo, "busybox": build_busybox, "debian": build_debian}[args.kind]
            builder(Path(args.directory))
    except (ImageBuildError, ImageImportError) as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"{error.filename or args.directory}: {error.strerror or error}") from None
    return 0


def serve(args: argparse.Namespace) -> int:
    """``serve``: the zygote, in the foreground until SIGTERM or SIGINT."""
    from kernel.zygote import OFF, SOCKET_VARIABLE, socket_path
    from kernel.zygote.server import main as serve_zygote

    path = args.socket or socket_path()
    if path is None:
        raise UsageError(f"${SOCKET_VARIABLE} is {os.environ.get(SOCKET_VARIABLE)!r} (off): name a --socket")
    if path.strip().lower() in OFF:
        raise UsageError(f"--socket {path!r}: not a path")
    _configure_logging(args.log_level, None)
    return serve_zygote(path)


def print_syscall_table() -> int:
    from kernel.syscalls.coverage import coverage_markdown

    print(coverage_markdown(), end="")
    return 0


#: The parser a zygote built before it forks runs (:func:`build_parser_now`); each run has its
#: own copy of it, used once.
_built_parser: argparse.ArgumentParser | None = None


def build_parser_now() -> argparse.ArgumentParser:
    """Build the command line's parser in advance (~2.5 ms of every run a zygote serves)."""
    global _built_parser
    _built_parser = build_parser()
    return _built_parser


def main(argv: Sequence[str] | None = None) -> int:
    from kernel import runtime

    if runtime.is_runc_command_line(sys.argv[1:] if argv is None else argv):
        return runtime.main(sys.argv[1:] if argv is None else argv)  # an engine calls us as it calls runc
    parser = _built_parser or build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args)
        if args.command == "image":
            return image_command(args)
        if args.command == "trace":
            from kernel import tracetools
            return tracetools.main(args)
        if args.command == "fuzz":
            from kernel import fuzz
            return fuzz.main(args)
        if args.command == "serve":
            return serve(args)
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
