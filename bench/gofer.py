"""A gofer round trip, alone: ``python -m bench.gofer [DIRECTORY] [--calls N] [--repeat R]``.

Starts a real, confined gofer serving DIRECTORY (default: the interpreter's standard library,
a directory of hundreds of files) exactly as the Sentry does (:func:`spawn_gofer`, fds
donated), and times, from this process's trio loop through the Sentry's connection code:

* ``getattr``: ``Tgetattr`` of the root, the least a request can do;
* ``walkopen``: ``Twalkopen`` with NOFID of one file below the root, with its fd donated (what
  opening an image file costs the first time);
* ``openmany``: ``Topenmany`` of 32 files of one directory (an open-ahead), per file.

Reported as the median over R runs of N calls, in µs per call (per file for ``openmany``).
Nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import sysconfig
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from gofer import protocol as p
from services.gofer_proxy.connection import GoferConnection, spawn_gofer


def _files(directory: Path) -> list[bytes]:
    """Names of regular files directly in ``directory`` (no symbolic links), sorted."""
    return sorted(entry.name.encode() for entry in os.scandir(directory)
                  if entry.is_file(follow_symlinks=False))


async def _timed(calls: int, one: Callable[[int], Awaitable[None]]) -> float:
    start = time.perf_counter()
    for i in range(calls):
        await one(i)
    return (time.perf_counter() - start) / calls * 1e6


async def measure(directory: Path, calls: int, repeat: int) -> dict[str, float]:
    names = _files(directory)
    if len(names) < p.OPEN_MANY:
        raise SystemExit(f"{directory} has fewer than {p.OPEN_MANY} files")
    process, conn = spawn_gofer(directory, donate_fds=True)
    samples: dict[str, list[float]] = {"getattr": [], "walkopen": [], "openmany": []}
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(conn.run)
            root = await conn.attach()
            for _ in range(repeat):
                samples["getattr"].append(await _timed(calls, lambda i: _getattr(conn, root)))
                samples["walkopen"].append(await _timed(calls, lambda i: _walkopen(conn, root, names[i % len(names)])))
                batches = max(1, calls // p.OPEN_MANY)
                per_batch = await _timed(batches, lambda i: _openmany(conn, root, names, i))
                samples["openmany"].append(per_batch / p.OPEN_MANY)
            await conn.aclose()
    finally:
        process.wait(timeout=10)
    return {name: statistics.median(values) for name, values in samples.items()}


async def _getattr(conn: GoferConnection, root: int) -> None:
    await conn.getattr(root)


async def _walkopen(conn: GoferConnection, root: int, name: bytes) -> None:
    _, fd = await conn.walk_open(root, [name], p.NOFID, os.O_RDONLY)
    if fd is not None:
        os.close(fd)


async def _openmany(conn: GoferConnection, root: int, names: list[bytes], batch: int) -> None:
    start = batch * p.OPEN_MANY % (len(names) - p.OPEN_MANY + 1)
    for result in await conn.open_many(root, [], names[start:start + p.OPEN_MANY], os.O_RDONLY):
        if not isinstance(result, int):
            os.close(result[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gofer", description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--calls", "-n", type=int, default=2000, help="calls per run (default 2000)")
    parser.add_argument("--repeat", "-r", type=int, default=5, help="runs; the median is reported (default 5)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the gofer confines itself with namespaces and pivot_root: run as root", file=sys.stderr)
        return 2
    result = trio.run(measure, args.directory.resolve(), args.calls, args.repeat)
    print(f"Gofer round trips over {args.directory} (median of {args.repeat} runs of {args.calls} calls)\n")
    print("| request | µs per call |")
    print("|---|---|")
    for name, value in result.items():
        print(f"| {name}{' (per file)' if name == 'openmany' else ''} | {value:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
