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
#: struct iovec: base, length (readv/writev, sendmsg, process_vm_*, PTRACE_GETREGSET).
IOVEC = struct.Struct("<QQ")
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

#: struct stat (x86-64): dev, ino, nlink, mode, uid, gid, pad, rdev, size, blksize, blocks,
#: atime, atime_nsec, mtime, mtime_nsec, ctime, ctime_nsec, 3 reserved longs.
STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")
#: struct statx (256 bytes): mask, blksize, attributes, nlink, uid, gid, mode, pad, ino, size,
#: blocks, attributes_mask, 4 timestamps {sec, nsec, pad}, rdev/dev major/minor, then spare.
STATX = struct.Struct("<IIQIIIH2xQQQQqI4xqI4xqI4xqI4xIIII112x")
#: struct statfs (x86-64): type, bsize, blocks, bfree, bavail, files, ffree, fsid[2], namelen,
#: frsize, flags, spare[4].
STATFS = struct.Struct("<qqQQQQQiiqqq32x")
#: The fixed head of struct linux_dirent64: d_ino, d_off, d_reclen, d_type (name follows).
DIRENT64_HEAD = struct.Struct("<QqHB")
#: struct linux_dirent (getdents(2)) before d_name: d_ino, d_off, d_reclen; d_type is its last byte.
DIRENT_HEAD = struct.Struct("<QqH")
#: struct open_how { u64 flags, mode, resolve; }
OPEN_HOW = struct.Struct("<QQQ")

#: struct pollfd { int fd; short events, revents; }
POLLFD = struct.Struct("<ihh")
#: struct epoll_event { u32 events; u64 data; } — packed on x86-64.
EPOLL_EVENT = struct.Struct("<IQ")

assert STAT.size == 144
assert STATX.size == 256
assert STATFS.size == 120
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
#: struct kernel_sigaction as rt_sigaction takes it: handler, flags, restorer, mask.
SIGACTION = struct.Struct("<QQQQ")
#: stack_t { void *ss_sp; int ss_flags; size_t ss_size; }
STACK_T = struct.Struct("<Qi4xQ")
#: pselect6's sixth argument: { const sigset_t *ss; size_t ss_len; }
PSELECT6_SIGMASK = struct.Struct("<QQ")
#: The head of every siginfo: signo, errno, code; the union starts at 16.
SIGINFO_HEAD = struct.Struct("<iii4x")
#: kill-style siginfo fields: pid, uid (then sigval for queued signals).
SIGINFO_KILL = struct.Struct("<iii4xiIQ")
#: struct signalfd_siginfo: signo, errno, code, pid, uid, fd, tid, band, overrun, trapno, status,
#: int, ptr, utime, stime, addr, addr_lsb, pad, syscall, call_addr, arch, 28 bytes of padding.
SIGNALFD_SIGINFO = struct.Struct("<IiiIIiIIIIiiQQQQHHiQI28x")
#: SIGSYS siginfo (after the head): call address, syscall number, audit arch.
SIGINFO_SYS = struct.Struct("<QiI")
#: SIGIO/SIGPOLL siginfo (after the head): band, fd.
SIGINFO_POLL = struct.Struct("<qi")
#: fault siginfo: the address.
SIGINFO_FAULT = struct.Struct("<iii4xQ")
#: struct sigcontext (x86-64): r8-r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags, cs,
#: gs, fs, ss, err, trapno, oldmask, cr2, fpstate, 8 reserved words.
SIGCONTEXT = struct.Struct("<18Q4H4QQ8Q")
#: struct ucontext (kernel's): uc_flags, uc_link, uc_stack, uc_mcontext, uc_sigmask.
UCONTEXT_HEAD = struct.Struct("<QQ")
UCONTEXT_SIZE = UCONTEXT_HEAD.size + STACK_T.size + SIGCONTEXT.size + 8
#: struct itimerval { timeval it_interval, it_value; }
ITIMERVAL = struct.Struct("<qqqq")

assert SIGCONTEXT.size == 256
assert UCONTEXT_SIZE == 304
#: struct sigevent's head: sigev_value, sigev_signo, sigev_notify, then _tid (SIGEV_THREAD_ID).
SIGEVENT = struct.Struct("<Qiii")
#: A timer's siginfo: signo, errno, code, pad, si_tid (timer id), si_overrun, si_value.
SIGINFO_TIMER = struct.Struct("<iii4xiiQ")
#: struct itimerspec { timespec it_interval, it_value; }
ITIMERSPEC = struct.Struct("<qqqq")

#: struct mq_attr: mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs, then four reserved longs.
MQ_ATTR = struct.Struct("<qqqq32x")

# --- cachestat(2) ---------------------------------------------------------------------------
#: struct cachestat_range { __u64 off, len; }
CACHESTAT_RANGE = struct.Struct("<QQ")
#: struct cachestat { __u64 nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; }
CACHESTAT = struct.Struct("<QQQQQ")

# --- futex2 ---------------------------------------------------------------------------------
#: struct futex_waitv { __u64 val; __u64 uaddr; __u32 flags; __u32 __reserved; }
FUTEX_WAITV = struct.Struct("<QQII")
