"""OCI hooks: programs of config.json run on the host, given the container's state on stdin.

As the runtime spec says: ``createRuntime`` and ``prestart`` once the sandbox is built, before
``create`` returns (a failure fails the create); ``poststart`` after ``start`` (a failure is
logged); ``poststop`` as ``delete`` removes the container (a failure is logged).
``createContainer`` and ``startContainer`` would run inside the container's namespaces, which a
Sentrio sandbox does not share with the host; they are run on the host too, at create and start.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

from kernel.oci import Hook


class HookFailed(Exception):
    """A hook could not run, failed or timed out; the message names it."""


def run_hooks(kind: str, hooks: Sequence[Hook], state: dict[str, Any]) -> None:
    """Run ``hooks`` in order; HookFailed at the first one that fails."""
    document = json.dumps(state).encode()
    for hook in hooks:
        argv = list(hook.args) or [hook.path]
        env = dict(entry.split("=", 1) for entry in hook.env if "=" in entry)
        try:
            done = subprocess.run(argv, executable=hook.path, input=document, env=env, capture_output=True,
                                  timeout=hook.timeout)
        except subprocess.TimeoutExpired:
            raise HookFailed(f"{kind} hook {hook.path}: timed out after {hook.timeout}s") from None
        except OSError as error:
            raise HookFailed(f"{kind} hook {hook.path}: {error.strerror or error}") from None
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            raise HookFailed(f"{kind} hook {hook.path} exited with status {done.returncode}"
                             + (f": {detail[-1]}" if detail else ""))
