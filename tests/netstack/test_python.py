"""Real programs that need sockets, in Python: http.server with a urllib client, an asyncio
echo server and clients, a multiprocessing.Manager. Each runs with the host's Debian
python3, natively and in a sandbox whose image is the host's root (copy-on-write: the guest
never changes it), and the two outputs must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netstack.conftest import REPO

SCRIPTS = Path(__file__).parent / "python"
PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(not os.path.exists(PYTHON) or os.geteuid() != 0,
                                reason="needs the host's python3 and root (ptrace)")


def _sandboxed(script: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "kernel", "run", "-v", f"{SCRIPTS}:/scripts:ro", "-w", "/", "/", "--",
               PYTHON, f"/scripts/{script}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


@pytest.mark.parametrize("script", ["http_client_server.py", "asyncio_echo.py", "manager.py"])
def test_python_program(script: str, tmp_path: Path) -> None:
    native = subprocess.run([PYTHON, str(SCRIPTS / script)], capture_output=True, text=True, timeout=120,
                            cwd="/", env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert native.returncode == 0, native.stderr
    sandboxed = _sandboxed(script)
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.returncode) == (native.stdout, native.stderr, 0)
