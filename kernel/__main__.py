"""``python -m kernel``: see :mod:`kernel.cli`."""

import sys

from kernel.cli import main

sys.exit(main())
