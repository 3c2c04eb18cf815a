"""--plugin functions for the host-fault tests: signals at moments a test cannot time from outside."""

from __future__ import annotations

import os
import signal
from typing import Any


def terminate_before_boot(kernel: Any) -> None:
    """SIGTERM to the Sentry while it is still setting up, before trio runs (plugins are
    called then): the sandbox must end with 143 and leave nothing behind."""
    os.kill(os.getpid(), signal.SIGTERM)
