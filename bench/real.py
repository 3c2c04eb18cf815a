"""Real workloads: the jobs of issue 14's table, native vs runsc vs Sentrio, on a Debian image.

``python -m bench.run --real [--quick]`` builds (once per machine, cached under
/var/cache/sentrio) a Debian image with python3, perl, git, xz and coreutils by ``debootstrap``
from Debian's packages, adds a file of words for sort/uniq and xz, and runs each job as
``/bin/sh -c JOB`` under every runtime, timing the whole command (start-up included) in wall
seconds. ``--quick`` runs smaller versions of the same jobs (a few minutes in all).
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Packages added to debootstrap's minbase (which has coreutils, findutils, grep, tar, gzip).
DEBIAN_PACKAGES = ("python3", "perl", "git", "xz-utils")
DEBIAN_SUITE = "bookworm"
IMAGE_CACHE_NAME = f"bench-debian-{DEBIAN_SUITE}"

#: Sizes of /bench/words (sort/uniq, xz), full and quick.
WORDS_MIB = 50
QUICK_WORDS_MIB = 4


@dataclass(frozen=True)
class Job:
    """One workload: a shell command run in the image, and its smaller ``quick`` variant."""

    name: str
    command: str
    quick: str


JOBS: list[Job] = [
    Job("find", "find / -xdev | wc -l", "find /usr/lib -xdev | wc -l"),
    Job("grep -rn",
        'for i in 1 2; do grep -rn "def main" /usr/lib/python3.11 | wc -l; done',
        'grep -rn "def main" /usr/lib/python3.11/json /usr/lib/python3.11/email | wc -l'),
    Job("perl File::Find",
        "perl -MFile::Find -e 'find(sub { $n++ }, \"/usr\"); print \"$n\\n\"'",
        "perl -MFile::Find -e 'find(sub { $n++ }, \"/usr/share/perl\"); print \"$n\\n\"'"),
    Job("sort/uniq", "sort /bench/words | uniq -c | wc -l", "head -c 4M /bench/words | sort | uniq -c | wc -l"),
    Job("compileall",
        "rm -rf /tmp/py && cp -r /usr/lib/python3.11 /tmp/py && python3 -m compileall -q /tmp/py >/dev/null; "
        "rm -rf /tmp/py",
        "rm -rf /tmp/py && cp -r /usr/lib/python3.11/json /tmp/py && python3 -m compileall -q /tmp/py; rm -rf /tmp/py"),
    Job("git init/add/commit/gc",
        "rm -rf /tmp/g && mkdir /tmp/g && cd /tmp/g && git init -q && "
        "for i in $(seq 1000); do echo $i > f$i; done && git add . && "
        "git -c user.name=b -c user.email=b@b commit -qm x && git gc -q; cd / && rm -rf /tmp/g",
        "rm -rf /tmp/g && mkdir /tmp/g && cd /tmp/g && git init -q && "
        "for i in $(seq 50); do echo $i > f$i; done && git add . && "
        "git -c user.name=b -c user.email=b@b commit -qm x && git gc -q; cd / && rm -rf /tmp/g"),
    Job("tar czf + xzf",
        "tar czf /tmp/u.tgz /usr 2>/dev/null; mkdir -p /tmp/x && tar xzf /tmp/u.tgz -C /tmp/x; "
        "rm -rf /tmp/x /tmp/u.tgz",
        "tar czf /tmp/u.tgz /usr/share/perl 2>/dev/null; mkdir -p /tmp/x && tar xzf /tmp/u.tgz -C /tmp/x; "
        "rm -rf /tmp/x /tmp/u.tgz"),
    Job("python3 -c", "python3 -c 'print(6*7)'", "python3 -c 'print(6*7)'"),
    Job("xz -9", "head -c 20M /bench/words | xz -9 | wc -c", "head -c 2M /bench/words | xz -9 | wc -c"),
]


def job_argv(job: Job, quick: bool) -> list[str]:
    """The guest command line of a job."""
    return ["/bin/sh", "-c", job.quick if quick else job.command]


def write_words(path: Path, mib: int, seed: int = 14) -> Path:
    """A file of ``mib`` MiB of pseudo-random words, one per line, the same for a given seed."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))
                  for _ in range(50_000)]
    target = mib << 20
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        written = 0
        while written < target:
            line = "\n".join(rng.choices(vocabulary, k=4096)) + "\n"
            out.write(line)
            written += len(line)
    return path


def build_debian_image(image: Path, quick: bool) -> Path:
    """The Debian image at ``image``: debootstrap'd once into the cache, then copied."""
    from kernel.images.build import cached_debian  # the image builder's debootstrap cache

    cached = cached_debian(IMAGE_CACHE_NAME, DEBIAN_PACKAGES, suite=DEBIAN_SUITE)
    if not (image / "bin").exists():
        image.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--", f"{cached}/.", str(image)], check=True)
        (image / ".complete").unlink(missing_ok=True)
    words = image / "bench" / "words"
    mib = QUICK_WORDS_MIB if quick else WORDS_MIB
    if not words.exists() or words.stat().st_size < mib << 20:
        write_words(words, mib)
    return image
