"""Fuzz programs: a few system calls with symbolic arguments, as the executor reads them.

An argument is symbolic so that the same program means the same thing in every run (natively
and under Sentrio, where addresses and fd numbers differ): "a pointer 8 bytes before a guard
page", "the read end of a pipe", "these bytes in the read-write area". :meth:`Program.wire` is
the executor's input format (see ``executor.c``); :meth:`Program.render` is the reproducer a
finding is reported with, one C-like call per line; :func:`parse` reads either wire text back
(``--replay``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abi.syscalls import NAMES

#: The executor's kinds of fd, in its order.
FD_KINDS = ("file", "dir", "piper", "pipew", "event", "epoll", "memfd", "signal", "timer", "null", "closed", "big",
            "cwd", "neg")
#: The executor's string table, in its order (index len() and above: an 8 KiB string of 'a').
STRINGS = ("/tmp/fuzz", "/", "/bin/fuzz-exec", "/dev/null", "", "/proc/self/maps", "..", "/tmp/fuzz-exe", "/tmp",
           "/tmp/fuzz/../fuzz")
#: Pointer regions: letter -> how a reproducer names it.
REGIONS = {"r": "rw", "o": "readonly", "g": "guard", "u": "unmapped", "k": "kernel", "h": "top", "n": "NULL"}
_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Arg:
    """One symbolic argument: ``kind`` is i (integer), p (pointer into a region), f (fd), s
    (string), d (bytes in the read-write area) or q (a pid: self or parent)."""

    kind: str
    value: int = 0
    region: str = ""
    data: bytes = b""
    name: str = ""

    def wire(self) -> str:
        if self.kind == "i":
            return f"i{self.value & _U64:#x}"
        if self.kind == "p":
            return f"p{self.region}:{self.value:#x}"
        if self.kind == "f":
            return f"f{self.name}"
        if self.kind == "s":
            return f"s{self.value}"
        if self.kind == "d":
            return f"d{self.value:#x}:{self.data.hex()}"
        return f"q{self.name}"

    def render(self) -> str:
        if self.kind == "i":
            value = self.value & _U64
            return f"{value - (1 << 64)}" if value >> 63 and value > (_U64 - 4096) else f"{value:#x}"
        if self.kind == "p":
            where = REGIONS[self.region]
            if self.region == "n":
                return "NULL"
            sign = "-" if self.region in "gh" else "+"
            return f"&{where}[{sign}{self.value:#x}]"
        if self.kind == "f":
            return f"fd<{self.name}>"
        if self.kind == "s":
            return repr(STRINGS[self.value]) if self.value < len(STRINGS) else "'a' * 8191"
        if self.kind == "d":
            return f"&rw[+{self.value:#x}] = {self.data.hex()}"
        return f"pid<{self.name}>"


@dataclass(frozen=True, slots=True)
class Call:
    """A system call (``nr``, ``args``), a mangled signal frame (``frame`` seed) or an execve of
    a malformed executable (``image``)."""

    nr: int = -1
    args: tuple[Arg, ...] = ()
    frame: int = 0
    image: bytes = b""

    @property
    def name(self) -> str:
        if self.frame:
            return "signal-frame"
        if self.image:
            return "execve-image"
        return NAMES.get(self.nr, f"syscall_{self.nr}")

    def wire(self) -> str:
        if self.frame:
            return f"F {self.frame:#x}"
        if self.image:
            return f"X {self.image.hex()}"
        args = list(self.args) + [Arg("i")] * (6 - len(self.args))
        return "C " + " ".join([str(self.nr), *(arg.wire() for arg in args)])

    def render(self) -> str:
        if self.frame:
            return f"raise(SIGUSR1), its frame mangled by seed {self.frame:#x}, then rt_sigreturn"
        if self.image:
            return f"execve('/tmp/fuzz-exe') of {len(self.image)} bytes: {self.image.hex()}"
        return f"{self.name}({', '.join(arg.render() for arg in self.args)})"


@dataclass(slots=True)
class Program:
    """Calls run in order in one child process of the executor."""

    calls: list[Call] = field(default_factory=list)

    def wire(self) -> str:
        return "P\n" + "".join(call.wire() + "\n" for call in self.calls) + "E\n"

    def render(self, results: list[int] | None = None) -> str:
        lines = []
        for index, call in enumerate(self.calls):
            line = call.render()
            if results is not None and index < len(results):
                line += f" = {results[index]}"
            lines.append(line)
        return "\n".join(lines)

    def without(self, index: int) -> Program:
        return Program(self.calls[:index] + self.calls[index + 1:])


def _parse_arg(token: str) -> Arg:
    kind = token[0]
    if kind == "i":
        return Arg("i", int(token[1:], 0))
    if kind == "p":
        return Arg("p", int(token[3:], 0), region=token[1])
    if kind == "f":
        return Arg("f", name=token[1:])
    if kind == "s":
        return Arg("s", int(token[1:]))
    if kind == "d":
        offset, _, data = token[1:].partition(":")
        return Arg("d", int(offset, 0), data=bytes.fromhex(data))
    return Arg("q", name=token[1:])


def parse(text: str) -> list[Program]:
    """Programs from wire text (what :meth:`Program.wire` writes, or a saved reproducer)."""
    programs: list[Program] = []
    for line in text.splitlines():
        head, _, rest = line.strip().partition(" ")
        if head == "P":
            programs.append(Program())
        elif head in ("C", "F", "X") and programs:
            if head == "F":
                programs[-1].calls.append(Call(frame=int(rest, 0)))
            elif head == "X":
                programs[-1].calls.append(Call(image=bytes.fromhex(rest)))
            else:
                nr, *tokens = rest.split()
                args = tuple(_parse_arg(token) for token in tokens)
                while args and args[-1] == Arg("i"):  # trailing zeros are implied
                    args = args[:-1]
                programs[-1].calls.append(Call(int(nr, 0), args))
    return programs
