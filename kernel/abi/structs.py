"""Binary layouts of the Linux x86-64 structs that cross the guest boundary.

Each is a precompiled :class:`struct.Struct`, little-endian with explicit padding, named after
the C struct. Pack with ``X.pack(...)``, unpack with ``X.unpack(data)``.
"""

import struct

#: struct timespec { time_t tv_sec; long tv_nsec; }
TIMESPEC = struct.Struct("<qq")
#: struct timeval { time_t tv_sec; suseconds_t tv_usec; }
TIMEVAL = struct.Struct("<qq")
#: struct timezone { int tz_minuteswest; int tz_dsttime; }
TIMEZONE = struct.Struct("<ii")
#: struct rlimit / rlimit64 { rlim_t rlim_cur, rlim_max; }
RLIMIT = struct.Struct("<QQ")
#: struct new_utsname: six fields of 65 bytes each.
UTSNAME_FIELD = 65
UTSNAME = struct.Struct("<65s65s65s65s65s65s")
#: struct sysinfo (112 bytes on x86-64).
SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")
#: struct winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; }
WINSIZE = struct.Struct("<HHHH")
#: struct rseq (the registered area is at least 32 bytes).
RSEQ_MIN_SIZE = 32
#: struct tms { clock_t tms_utime, tms_stime, tms_cutime, tms_cstime; }
TMS = struct.Struct("<qqqq")
#: A guest pointer or unsigned long.
U64 = struct.Struct("<Q")
U32 = struct.Struct("<I")
I32 = struct.Struct("<i")

assert SYSINFO.size == 112
assert UTSNAME.size == 390
#: struct clone_args (clone3), as of CLONE_ARGS_SIZE_VER2: flags, pidfd, child_tid, parent_tid,
#: exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup.
CLONE_ARGS = struct.Struct("<11Q")
#: struct robust_list_head { struct robust_list *next; long futex_offset; void *list_op_pending; }
ROBUST_LIST_HEAD = struct.Struct("<QqQ")
#: struct rusage: two timevals then fourteen longs (144 bytes).
RUSAGE = struct.Struct("<qqqq14q")
#: struct siginfo is 128 bytes; SIGCHLD's fields: signo, errno, code, pad, pid, uid, status,
#: pad, utime, stime.
SIGINFO_SIZE = 128
SIGINFO_CHLD = struct.Struct("<iii4xiIi4xqq")

assert RUSAGE.size == 144
assert CLONE_ARGS.size == 88
