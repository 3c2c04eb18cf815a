"""Values that cross the guest boundary, decoded and encoded the way Linux does it.

A guest may ask for a sleep of 2^63 seconds, an interval timer that fires every 292 years or a
read of 2^64 bytes. Linux never overflows on such values: time values become ``ktime_t``
nanoseconds saturated at ``KTIME_MAX`` (``timespec64_to_ktime``), byte counts are cut to
``MAX_RW_COUNT``, and what goes back to the guest is derived from those, so it always fits
the C type it is written into. The Sentry does the same by going through this module in both
directions instead of doing its own arithmetic on raw guest numbers:

* ``*_to_ns`` validate a guest ``timespec``/``timeval`` (EINVAL as Linux) and clamp it;
* :func:`timespec`, :func:`timeval`, :func:`clock_ticks` encode nanoseconds for the guest;
* :func:`rw_count` bounds a transfer size.
"""

from __future__ import annotations

from abi.errno import EINVAL, Errno
from abi.linux import NSEC_PER_SEC, PAGE_SIZE, USER_HZ

#: The largest ktime_t (signed 64-bit nanoseconds): about 292 years.
KTIME_MAX = (1 << 63) - 1
#: Seconds at or above which a time value saturates to KTIME_MAX.
KTIME_SEC_MAX = KTIME_MAX // NSEC_PER_SEC
NSEC_PER_USEC = 1000
USEC_PER_SEC = 1_000_000
INT_MAX = (1 << 31) - 1
INT_MIN = -(1 << 31)
#: The most bytes one read or write moves (INT_MAX rounded down to a page), fs/read_write.c.
MAX_RW_COUNT = INT_MAX & ~(PAGE_SIZE - 1)


def ktime(seconds: int, nanoseconds: int) -> int:
    """``timespec64_to_ktime``: nanoseconds, saturated at ``KTIME_MAX`` (either sign)."""
    if seconds >= KTIME_SEC_MAX:
        return KTIME_MAX
    if seconds <= -KTIME_SEC_MAX:
        return -KTIME_MAX
    return seconds * NSEC_PER_SEC + nanoseconds


def timespec_to_ns(seconds: int, nanoseconds: int) -> int:
    """A guest ``timespec`` duration or time: EINVAL unless ``timespec64_valid`` (tv_sec >= 0,
    0 <= tv_nsec < 10^9), then ktime nanoseconds."""
    if seconds < 0 or not 0 <= nanoseconds < NSEC_PER_SEC:
        raise Errno(EINVAL)
    return ktime(seconds, nanoseconds)


def timeval_to_ns(seconds: int, microseconds: int) -> int:
    """A guest ``timeval``: EINVAL unless ``timeval_valid`` (tv_sec >= 0, 0 <= tv_usec < 10^6),
    then ktime nanoseconds."""
    if seconds < 0 or not 0 <= microseconds < USEC_PER_SEC:
        raise Errno(EINVAL)
    return ktime(seconds, microseconds * NSEC_PER_USEC)


def clamp_ktime(ns: int) -> int:
    """A sum of ktime values as ``ktime_add_safe`` keeps it: within [-KTIME_MAX, KTIME_MAX]."""
    return max(-KTIME_MAX, min(ns, KTIME_MAX))


def timespec(ns: int) -> tuple[int, int]:
    """``ns_to_timespec64``: (tv_sec, tv_nsec) with 0 <= tv_nsec < 10^9, from a ktime value."""
    seconds, nanoseconds = divmod(clamp_ktime(ns), NSEC_PER_SEC)
    return seconds, nanoseconds


def timeval(ns: int) -> tuple[int, int]:
    """(tv_sec, tv_usec) from a ktime value; microseconds are truncated, as Linux truncates."""
    seconds, nanoseconds = timespec(ns)
    return seconds, nanoseconds // NSEC_PER_USEC


def clock_ticks(ns: int) -> int:
    """Nanoseconds as ``clock_t`` ticks (USER_HZ), as times(2) reports them."""
    return clamp_ktime(ns) * USER_HZ // NSEC_PER_SEC


def rw_count(count: int) -> int:
    """A transfer size as every read and write path bounds it: at most ``MAX_RW_COUNT``."""
    return min(count, MAX_RW_COUNT)


def c_uint(value: int) -> int:
    """A value as C ``unsigned int`` (alarm's seconds, a flags word): its low 32 bits."""
    return value & 0xFFFF_FFFF


def c_int(value: int) -> int:
    """A value as C ``int`` (a flags word stored in an ``int`` field): its low 32 bits, signed."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >> 31 else value


__all__ = ["INT_MAX", "INT_MIN", "KTIME_MAX", "KTIME_SEC_MAX", "MAX_RW_COUNT", "NSEC_PER_USEC", "USEC_PER_SEC",
           "c_int", "c_uint", "clamp_ktime", "clock_ticks", "ktime", "rw_count", "timespec", "timespec_to_ns",
           "timeval", "timeval_to_ns"]
