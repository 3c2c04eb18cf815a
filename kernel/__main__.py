"""``python -m kernel``: see :mod:`kernel.cli`."""

import atexit
import os
import sys

from kernel.zygote.client import run_served

# A zygote (`python -m kernel serve`) takes a `run` before the Sentry's modules are imported here.
served = run_served(sys.argv[1:])
if served is not None:
    sys.stdout.flush()
    os._exit(served)

from gofer.spawn import flush_standard_streams  # noqa: E402 — only when no zygote took the run
from kernel.cli import main  # noqa: E402

status = main()
# The interpreter's own finalization frees every module and object one by one: 0.1-0.5 s of a
# short run's wall time (measured on `run IMAGE -- /bin/true`), for memory the host frees at once.
# What must happen at exit still does: the atexit handlers (logging's flush, the keeper's wait
# for the runtime directory's removal), then the standard streams are flushed.
atexit._run_exitfuncs()
flush_standard_streams()
os._exit(status)
