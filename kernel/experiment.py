"""``run --experiment FILE``: an experiment written down, so it can be run again and shared.

The file is TOML; every key is optional, and a flag given on the command line wins over it::

    # Fail the third read of /data/f, trace the run.
    seed = 3
    command = ["cat", "/data/f"]          # the guest's command (else: the one after --)
    trace = "/tmp/cat.jsonl"              # as --trace-messages
    strace = false                        # as --strace
    deterministic = false                 # as --deterministic
    chaos = false                         # as --chaos
    rules = ["vfs.read:fail=EIO:path=/data/f:nth=3"]

    [services]                            # as --service NAME=module:Factory
    vfs = "examples.oplog:vfs"

    [[rule]]                              # a rule as a table: the same keys as in the text form
    target = "vfs.write"
    short = 10
    path = "/tmp/*"

    [supervise.proc]                      # restart a crashed actor (kernel.supervise)
    intensity = 3                         # at most 3 restarts ...
    period = 5.0                          # ... in 5 seconds, else the sandbox ends
    errno = "EIO"                         # what the crashed call and the calls in flight get

    [supervise.gofer]
    restarts = 2                          # spare gofers: a killed gofer is replaced twice

At the end of an experiment the Sentry prints on stderr a summary of every rule: how many
messages it matched, which it hit (message and system call ids, as the trace names them), and
the rules that never matched.
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KEYS = frozenset({"seed", "command", "trace", "strace", "deterministic", "chaos", "rules", "rule", "services",
                   "supervise"})
_POLICY_KEYS = frozenset({"strategy", "intensity", "period", "errno", "restarts"})


class ExperimentError(ValueError):
    """An experiment file that cannot be read or says something we do not understand."""


@dataclass
class Experiment:
    path: str
    seed: int | None = None
    command: list[str] = field(default_factory=list)
    trace: str | None = None
    strace: bool = False
    deterministic: bool = False
    chaos: bool = False
    rules: list[str] = field(default_factory=list)
    services: list[tuple[str, str]] = field(default_factory=list)
    supervise: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> Experiment:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise ExperimentError(f"--experiment {path!r}: {error.strerror or error}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ExperimentError(f"--experiment {path!r}: {error}") from None
        return cls.from_dict(path, data)

    @classmethod
    def from_dict(cls, path: str, data: dict[str, Any]) -> Experiment:
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise ExperimentError(f"--experiment {path!r}: unknown key {unknown[0]!r}")
        experiment = cls(path)
        try:
            experiment.seed = _typed(data, "seed", int)
            command = data.get("command", [])
            experiment.command = command.split() if isinstance(command, str) else _strings(command, "command")
            experiment.trace = _typed(data, "trace", str)
            experiment.strace = bool(_typed(data, "strace", bool))
            experiment.deterministic = bool(_typed(data, "deterministic", bool))
            experiment.chaos = bool(_typed(data, "chaos", bool))
            experiment.rules = _strings(data.get("rules", []), "rules")
            experiment.rules += [_rule_text(table) for table in data.get("rule", [])]
            services = data.get("services", {})
            if not isinstance(services, dict):
                raise TypeError("services must be a table")
            experiment.services = [(name, _strings([target], "services")[0]) for name, target in services.items()]
            experiment.supervise = _policies(data.get("supervise", {}))
        except (TypeError, ValueError) as error:
            raise ExperimentError(f"--experiment {path!r}: {error}") from None
        return experiment


def _policies(tables: Any) -> dict[str, Any]:
    """``[supervise.NAME]`` tables as :class:`kernel.supervise.Policy` s."""
    from kernel.faults import _errno
    from kernel.kernel import DEFAULT_SERVICES
    from kernel.supervise import Policy

    if not isinstance(tables, dict):
        raise TypeError("supervise must be a table of [supervise.SERVICE] tables")
    policies = {}
    for name, table in tables.items():
        if name not in DEFAULT_SERVICES:
            raise ValueError(f"[supervise.{name}]: no service named {name!r}")
        if not isinstance(table, dict) or set(table) - _POLICY_KEYS:
            raise ValueError(f"[supervise.{name}]: keys are {', '.join(sorted(_POLICY_KEYS))}")
        if table.get("strategy", "one_for_one") != "one_for_one":
            raise ValueError(f"[supervise.{name}]: the only strategy is one_for_one")
        try:
            errno = _errno(str(table.get("errno", "EIO")))
        except KeyError:
            raise ValueError(f"[supervise.{name}]: no errno {table['errno']!r}") from None
        policies[name] = Policy(name, intensity=int(table.get("intensity", 3)), period=float(table.get("period", 5.0)),
                                errno=errno, restarts=int(table.get("restarts", 0)))
    return policies


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise TypeError(f"{key} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key} must be a list of strings")
    return list(value)


def _rule_text(table: Any) -> str:
    """A ``[[rule]]`` table as the text form ``SERVICE.OP:KEY=VALUE:...``."""
    if not isinstance(table, dict) or not isinstance(table.get("target"), str):
        raise TypeError("each [[rule]] needs target = \"SERVICE.OP\"")
    parts = [table["target"]]
    for key, value in table.items():
        if key == "target":
            continue
        if value is True:
            parts.append(key)
        elif key == "size" and isinstance(value, str) and value[:1] in "<>=":
            parts.append(f"size{value}")
        else:
            parts.append(f"{key}={value}")
    return ":".join(parts)


def merge(args: Any) -> Experiment | None:
    """Fold ``args.experiment``'s file into the ``run`` flags (a flag given wins); returns it."""
    if not getattr(args, "experiment", None):
        return None
    experiment = Experiment.load(args.experiment)
    cmd = [c for c in args.cmd if c != "--"] if args.cmd else []
    if not cmd and experiment.command:
        args.cmd = ["--", *experiment.command]
    if args.seed is None:
        args.seed = experiment.seed
    if args.trace_messages is None:
        args.trace_messages = experiment.trace
    args.strace = args.strace or experiment.strace
    args.deterministic = getattr(args, "deterministic", False) or experiment.deterministic
    args.chaos = getattr(args, "chaos", False) or experiment.chaos
    args.inject = [*experiment.rules, *args.inject]
    given = {name for name, _ in args.service}
    args.service = [*(s for s in experiment.services if s[0] not in given), *args.service]
    return experiment


class ResearchTools:
    """The research flags of one ``run``: fault rules, strace, the message trace, the summary.

    Built from the flags before the sandbox exists (a bad rule is a usage error), installed on
    the kernel before boot, finished after the run.
    """

    def __init__(self, args: Any, argv: list[str] | None = None) -> None:
        from kernel.faults import FaultInjector

        self.experiment = merge(args)
        self.seed: int = args.seed if args.seed is not None else 0
        self.rules: list[str] = list(args.inject)
        self.injector = FaultInjector(self.rules, self.seed) if self.rules else None
        self.strace: bool = args.strace
        self.services: list[tuple[str, str]] = list(args.service)
        #: The command line, as the trace's header shows it.
        self.argv = ["python", "-m", "kernel", *argv[1:]] if argv else None
        self.tracer: Any = None
        self.supervisor: Any = None
        self.deterministic: bool = args.deterministic or args.chaos
        self.chaos: bool = args.chaos
        #: The trio run's clock: virtual in a deterministic run, else trio's own (None).
        self.clock: Any = None
        if self.deterministic:
            from kernel import determinism

            self.clock = determinism.VirtualClock()
            determinism.use(determinism.Source(self.seed, self.clock))
            determinism.seed_trio(self.seed)
        policies = self.experiment.supervise if self.experiment is not None else {}
        if "gofer" in policies:  # before the Kernel starts its first gofer (the image's, early)
            os.environ["SENTRIO_GOFER_SPARES"] = str(policies["gofer"].restarts)

    def install(self, kernel: Any, trace_file: Any) -> None:
        """Join the kernel's bus and syscall table; write the trace's header."""
        from kernel.strace import Strace, SyscallIds
        from kernel.tracing import MessageTracer

        ids = None
        if self.deterministic:
            from kernel.determinism.scheduler import Scheduler

            kernel.scheduler = Scheduler(self.seed, self.clock, chaos=self.chaos)
        if self.strace:
            Strace(show_ids=trace_file is not None).install(kernel.syscalls)
        if trace_file is not None or self.injector is not None:  # hits name their system call
            ids = SyscallIds.install(kernel.syscalls)
        if trace_file is not None:
            self.tracer = MessageTracer(trace_file, kernel.bus, clock=self.clock.current_time if self.clock else
                                        time.monotonic)
            self.tracer.header(argv=self.argv, seed=self.seed, rules=self.rules,
                               deterministic=self.deterministic, chaos=self.chaos,
                               services=[f"{n}={t}" for n, t in self.services],
                               experiment=self.experiment.path if self.experiment else None)
            self.tracer.follow_syscalls(ids)
            kernel.bus.add_interceptor(self.tracer)
        if self.injector is not None:
            self.injector.install(kernel.bus)
        policies = self.experiment.supervise if self.experiment is not None else {}
        if policies:
            from kernel.supervise import RestartingSupervisor

            self.supervisor = RestartingSupervisor(kernel, policies, strict=kernel.config.strict)
            self.supervisor.install(kernel.bus)

    def finish(self, stderr: Any) -> None:
        """After the run: the fault summary (on stderr for an experiment) and the trace's end."""
        summary = self.injector.summary() if self.injector is not None else []
        if self.tracer is not None:
            hits = [vars_of(hit) for hit in self.injector.hits] if self.injector is not None else []
            self.tracer.footer(faults=summary[1:], hits=hits)
            self.tracer.close()
        if summary and self.experiment is not None:
            stderr.write("".join(f"sentrio: {line}\n" for line in summary))
            stderr.flush()


def vars_of(hit: Any) -> dict[str, Any]:
    return {name: getattr(hit, name) for name in hit.__slots__}
