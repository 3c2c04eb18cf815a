"""Settings for the whole suite."""

import os

# Each test's sandbox runs cold unless the environment names a zygote: one a developer left
# running (`python -m kernel serve`) would otherwise serve every run, and the tests that look
# at the Sentry process by its pid would look at the zygote's client. tests/cli/test_zygote.py
# starts zygotes of its own.
os.environ.setdefault("SENTRIO_ZYGOTE", "off")
