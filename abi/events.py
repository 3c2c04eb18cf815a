"""Linux ABI of the event files: timerfd (linux/timerfd.h)."""

from __future__ import annotations

# --- timerfd -----------------------------------------------------------------------------------

TFD_TIMER_ABSTIME = 1 << 0
TFD_TIMER_CANCEL_ON_SET = 1 << 1
TFD_CLOEXEC = 0o2000000
TFD_NONBLOCK = 0o4000
#: The flags timerfd_settime knows.
TFD_SETTIME_FLAGS = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET

# --- pidfd -------------------------------------------------------------------------------------

PIDFD_NONBLOCK = 0o4000
#: pidfd_open of a thread rather than a process (Linux 6.9).
PIDFD_THREAD = 0o200
