"""``python -m kernel fuzz``: Sentrio's own system call fuzzer.

Seeded random programs of system calls (arguments typed from the syscall table: pointers valid,
unmapped, read-only or just before a guard page, fds of every kind, boundary integers, boundary
structures), mangled signal frames and malformed executables run in sandboxes under Sentrio; a
Sentry crash, a handler bug, an answer no Linux program can see, a stall or runaway memory is a
finding, reported with a minimal reproducer. ``--native`` also runs the calls whose answers do
not depend on the machine natively (a throwaway chroot, a user of its own, rlimits) and reports
every divergence from Linux.

Modules: :mod:`~kernel.fuzz.program` (programs and their text), :mod:`~kernel.fuzz.generate`
(the generators), :mod:`~kernel.fuzz.runner` (running batches), :mod:`~kernel.fuzz.campaign`
(findings, minimizing, the summary); ``executor.c`` runs inside the sandbox.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=10_000, metavar="N",
                        help="system calls to make in all (default 10000; a long run: 10000000)")
    parser.add_argument("--seed", type=int, action="append", metavar="S",
                        help="seed of the random programs (repeat for several; default 1)")
    parser.add_argument("--calls-per-program", type=int, default=8, metavar="K",
                        help="calls per program, each program in a process of its own (default 8)")
    parser.add_argument("--programs-per-sandbox", type=int, default=64, metavar="M",
                        help="programs per sandbox started (default 64)")
    parser.add_argument("--memory", default="256m", metavar="SIZE",
                        help="the sandboxes' guest memory limit (default 256m)")
    parser.add_argument("--native", action="store_true",
                        help="compare with Linux: only calls whose answers do not depend on the machine, "
                             "each program also run natively (chroot, uid 59999, rlimits)")
    parser.add_argument("--only", action="append", metavar="CALL", help="only these system calls (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="sandboxes at once (default 1)")
    parser.add_argument("--no-minimize", action="store_true", help="report findings as found, not minimized")
    parser.add_argument("--out", metavar="DIR", help="save each finding's reproducer as DIR/finding-N.txt")
    parser.add_argument("--replay", metavar="FILE", help="run the programs saved in FILE and show what they do")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def main(args: argparse.Namespace) -> int:
    """Run a campaign (or a replay); 0 if nothing was found, 1 otherwise, 125 if it cannot run."""
    from kernel.fuzz.campaign import Campaign, replay
    from kernel.fuzz.runner import ImageError

    try:
        if args.replay:
            return replay(Path(args.replay), args.memory, args.native)
        if args.calls <= 0 or args.calls_per_program <= 0 or args.programs_per_sandbox <= 0 or args.jobs <= 0:
            print("sentrio: fuzz: --calls, --calls-per-program, --programs-per-sandbox and --jobs must be positive",
                  file=sys.stderr)
            return 125
        campaign = Campaign(args.seed or [1], args.calls, args.calls_per_program, args.programs_per_sandbox,
                            args.memory, args.native, args.only, args.jobs, not args.no_minimize,
                            Path(args.out) if args.out else None, None if args.quiet else sys.stderr)
        campaign.run()
    except ImageError as error:
        print(f"sentrio: fuzz: {error}", file=sys.stderr)
        return 125
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        print(campaign.summary())
        return 130
    print(campaign.summary())
    return 1 if campaign.failed else 0
