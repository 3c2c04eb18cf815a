"""Real programs from Debian, each doing real work, natively and under Sentrio.

The image is debootstrap's minbase with a compiler, make, sqlite3, openssl, perl, git and
python3 (built once per machine under /var/cache/sentrio). Every case is a shell script whose
output does not depend on the machine or the moment (fixed dates for git, fixed keys for
openssl), so the native run's stdout, stderr and status are the answer Sentrio must give.
Natively the image gets a /proc and an empty tmpfs /tmp of its own (a private mount namespace),
as the sandbox does, so the cached image is never written.

``python -m tests.compat.debian_programs`` runs every case both ways and prints the table that
docs/compatibility.md ("Real programs") shows; the tests in ``test_debian_programs.py`` assert it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kernel.images.build import cached_debian

SUITE = "bookworm"
PACKAGES = ("gcc", "make", "libc6-dev", "sqlite3", "openssl", "perl", "git", "python3")
IMAGE_NAME = f"programs-debian-{SUITE}-1"
REPO = Path(__file__).resolve().parents[2]
#: The environment of both runs (the sandbox's default, as docker's).
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}

#: A two-file C project with a Makefile whose two objects ``make -j2`` builds at once.
_PROJECT = {
    "main.c": '#include <stdio.h>\nint square(int);\n'
              'int main(void) { for (int i = 1; i <= 4; i++) printf("%d ", square(i)); puts(""); return 0; }\n',
    "square.c": "int square(int x) { return x * x; }\n",
    "Makefile": "squares: main.o square.o\n\tcc -o $@ main.o square.o\n%.o: %.c\n\tcc -O2 -c $<\n",
}


def _write_project() -> str:
    return "; ".join(f"printf %s {shlex.quote(text)} > {name}" for name, text in _PROJECT.items())


#: name -> the shell script the case runs (in a fresh directory under /tmp).
CASES: dict[str, str] = {
    "dash and bash": "echo $((6 * 7)); bash -c 'declare -A a=([x]=1 [y]=2); echo ${#a[@]} ${BASH_VERSINFO[0]}'",
    "coreutils": "seq 1 1000 | sort -r | head -3; seq 1 1000 > n; wc -l < n; sha256sum n | cut -c1-16; "
                 "mkdir -p d/e; touch d/e/f; find d | sort; stat -c '%s %F' n",
    "make -j2 with gcc": f"{_write_project()}; make -j2 >/dev/null 2>make.log || cat make.log; ./squares; "
                         "ls *.o | sort",
    "sqlite3": "sqlite3 t.db 'create table t(x integer, y text); insert into t values (1, \"a\"), (2, \"b\"), "
               "(3, \"c\"); select sum(x), group_concat(y) from t; pragma integrity_check;'",
    "openssl": "printf sentrio | openssl dgst -sha256 -r; printf secret > p; "
               "openssl enc -aes-256-cbc -K 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f "
               "-iv 0f0e0d0c0b0a09080706050403020100 -in p | openssl enc -d -aes-256-cbc "
               "-K 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f "
               "-iv 0f0e0d0c0b0a09080706050403020100; echo; openssl rand -hex 16 | wc -c; "
               "openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null && "
               "printf m | openssl pkeyutl -sign -inkey k.pem -rawin | wc -c",
    "perl": "perl -e 'my %h = map { $_ => $_ ** 2 } 1..5; print join(\",\", map { $h{$_} } sort keys %h), \"\\n\"'; "
            "perl -MPOSIX -e 'print POSIX::floor(7.9), \"\\n\"'",
    "git": "export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'; "
           "git init -q -b main r && cd r && git config user.email s@example.org && git config user.name S && "
           "echo one > f && git add f && git commit -q -m first && echo two >> f && git commit -qam second && "
           "git log --format='%H %s' && git diff HEAD~1 --stat",
    "python3": "python3 -c 'import json, sqlite3, hashlib, subprocess, threading; "
               "t = threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join(); "
               "print(json.dumps({\"sha\": hashlib.sha256(b\"x\").hexdigest()[:8]})); "
               "print(subprocess.run([\"echo\", \"child\"], capture_output=True, text=True).stdout.strip())'",
}


#: name -> what the case shows, for the table.
WHAT = {
    "dash and bash": "arithmetic, an associative array",
    "coreutils": "seq, sort, head, wc, sha256sum, mkdir, find, stat",
    "make -j2 with gcc": "two objects compiled at once, linked, run",
    "sqlite3": "a table made, filled, summed; integrity_check",
    "openssl": "SHA-256, AES-256-CBC both ways, random bytes, an Ed25519 signature",
    "perl": "a hash, POSIX",
    "git": "init, two commits with fixed dates (same hashes), log, diff --stat",
    "python3": "a thread, json, hashlib, a subprocess",
}


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    status: int


def programs_image() -> Path:
    """The image's root (debootstrapped now if this machine has none yet: a few minutes)."""
    return cached_debian(IMAGE_NAME, PACKAGES, suite=SUITE)


def _script(case: str) -> str:
    return f"cd \"$(mktemp -d)\" && {{ {CASES[case]}; }}"


def native(image: Path, case: str, timeout: float = 300) -> Outcome:
    """The case on Linux: chroot into the image with a /proc and a tmpfs /tmp of its own."""
    inner = " ".join(shlex.quote(word) for word in ["chroot", str(image), "/bin/sh", "-c", _script(case)])
    setup = textwrap.dedent(f"""\
        mount -t proc proc {shlex.quote(str(image / 'proc'))} &&
        mount -t tmpfs tmpfs {shlex.quote(str(image / 'tmp'))} &&
        exec env -i {' '.join(f'{key}={value}' for key, value in ENV.items())} {inner}""")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
                          capture_output=True, text=True, timeout=timeout)
    return Outcome(done.stdout, done.stderr, done.returncode)


def sentrio(image: Path, case: str, timeout: float = 300) -> Outcome:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "kernel", "run", str(image), "--", "/bin/sh", "-c", _script(case)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL)
    return Outcome(done.stdout, done.stderr, done.returncode)


def both(image: Path, case: str) -> tuple[Outcome, Outcome]:
    """(native, Sentrio), run at the same time."""
    with ThreadPoolExecutor(2) as pool:
        runs: list[Callable[[Path, str], Outcome]] = [native, sentrio]
        first, second = (pool.submit(run, image, case) for run in runs)
        return first.result(), second.result()


def main() -> int:
    image = programs_image()
    print("| program | what the case does | native | Sentrio | same output |")
    print("|---|---|---|---|---|")
    failures = 0
    for case in CASES:
        expected, got = both(image, case)
        same = expected == got
        failures += not same
        print(f"| {case} | {WHAT[case]} | exit {expected.status} | exit {got.status} | {'yes' if same else '**no**'} |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
