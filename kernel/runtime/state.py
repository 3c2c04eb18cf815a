"""The state directory of the OCI runtime: ``ROOT/<id>/`` for every container ``create`` made.

It holds ``state.json`` (what ``state`` reports, with the Sentry's pid and its start time, so a
recycled pid is not mistaken for the container), ``start`` (a FIFO the held Sentry reads: one
byte from ``start`` lets the first process run) and ``started`` (present once ``start`` ran).
The status follows from them, as runc derives it: the Sentry gone (or a zombie) is *stopped*,
``started`` present is *running*, else *created*.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from typing import Any

#: Where containers live unless ``--root`` says otherwise (runc uses /run/runc).
DEFAULT_ROOT = "/run/sentrio-oci"
#: The runtime-spec version our state and features documents follow.
OCI_VERSION = "1.0.2"
#: Container ids, as runc accepts them.
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


class RuntimeFailure(Exception):
    """A command cannot do what was asked; reported in one line, exit status 1 as runc does."""


def check_id(container_id: str) -> None:
    if not VALID_ID.fullmatch(container_id):
        raise RuntimeFailure(f"invalid container id {container_id!r}")


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (None if the process is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rpartition(")")[2].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@dataclass(slots=True)
class Container:
    """One container of the state directory."""

    path: str
    state: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.state["id"])

    @property
    def pid(self) -> int:
        return int(self.state["pid"])

    @property
    def fifo(self) -> str:
        return os.path.join(self.path, "start")

    def alive(self) -> bool:
        """Whether the Sentry this container started still runs."""
        return self.pid > 0 and process_start_time(self.pid) == self.state.get("starttime")

    def status(self) -> str:
        if not self.alive():
            return "stopped"
        return "running" if os.path.exists(os.path.join(self.path, "started")) else "created"

    def oci_state(self) -> dict[str, Any]:
        """The runtime-spec state document (``state ID``)."""
        status = self.status()
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": self.pid if status != "stopped" else 0,
            "bundle": self.state["bundle"],
            "annotations": self.state.get("annotations", {}),
        }

    def mark_started(self) -> None:
        with open(os.path.join(self.path, "started"), "w"):
            pass

    def save(self) -> None:
        temporary = os.path.join(self.path, "state.json.new")
        with open(temporary, "w") as file:
            json.dump(self.state, file)
        os.replace(temporary, os.path.join(self.path, "state.json"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def new_container(root: str, container_id: str, bundle: str, annotations: dict[str, str]) -> Container:
    """Make ``ROOT/<id>/`` with its start FIFO; RuntimeFailure if the id is taken."""
    check_id(container_id)
    os.makedirs(root, mode=0o711, exist_ok=True)
    path = os.path.join(root, container_id)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        raise RuntimeFailure(f"container with id exists: {container_id}") from None
    os.mkfifo(os.path.join(path, "start"), 0o600)
    container = Container(path, {"id": container_id, "pid": 0, "bundle": bundle, "annotations": annotations,
                                 "created": time.time()})
    container.save()
    return container


def load(root: str, container_id: str) -> Container:
    """The container ``container_id``; RuntimeFailure if there is none."""
    check_id(container_id)
    path = os.path.join(root, container_id)
    try:
        with open(os.path.join(path, "state.json")) as file:
            state = json.load(file)
    except (OSError, ValueError):
        raise RuntimeFailure(f"container does not exist: {container_id}") from None
    return Container(path, state)


def every(root: str) -> list[Container]:
    """Every container under ``root``, by id."""
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            found.append(load(root, name))
        except RuntimeFailure:
            continue
    return found
