/* The standard streams: readv/writev, positioned I/O on pipes, terminal ioctls, and friends. */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    char a[6], b[64];
    struct iovec in[2] = {{a, 5}, {b, sizeof b - 1}};
    ssize_t n = readv(0, in, 2);
    a[5] = 0;
    b[n > 5 ? n - 5 : 0] = 0;
    printf("readv %zd: \"%s\" + \"%s\"\n", n, a, b);
    struct iovec out[3] = {{"wri", 3}, {"te", 2}, {"v\n", 2}};
    CHECK("writev", writev(1, out, 3) == 7);
    fflush(stdout);
    ERRNO_OF("pread on a pipe", pread(0, a, 1, 0));
    ERRNO_OF("pwrite negative offset", pwrite(1, "x", 1, -1));
    ERRNO_OF("write to a closed fd", write(42, "x", 1));
    ERRNO_OF("read from a closed fd", read(-1, a, 1));
    ERRNO_OF("readv too many iovecs", readv(0, in, 5000));
    struct termios tio;
    ERRNO_OF("TCGETS on a pipe", ioctl(1, TCGETS, &tio));
    struct winsize ws;
    ERRNO_OF("TIOCGWINSZ on a pipe", ioctl(1, TIOCGWINSZ, &ws));
    CHECK("write 0 bytes", write(1, NULL, 0) == 0);
    char cwd[64];
    CHECK("getcwd", getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, "/") == 0);
    ERRNO_OF("getcwd too small", syscall(SYS_getcwd, cwd, 1));
    cpu_set_t set;
    CHECK("sched_getaffinity", sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1);
    CHECK("sched_getaffinity counts like sysconf", CPU_COUNT(&set) == sysconf(_SC_NPROCESSORS_ONLN));
    ERRNO_OF("sched_getaffinity tiny mask", syscall(SYS_sched_getaffinity, 0, 1, &set));
    CHECK("sched_yield", sched_yield() == 0);
    struct sysinfo info;
    CHECK("sysinfo", sysinfo(&info) == 0 && info.mem_unit >= 1 && info.totalram > 0 && info.procs >= 1);
    struct rlimit lim, lim64;
    CHECK("getrlimit stack", getrlimit(RLIMIT_STACK, &lim) == 0);
    CHECK("prlimit64 agrees", prlimit(0, RLIMIT_STACK, NULL, &lim64) == 0 && lim.rlim_cur == lim64.rlim_cur);
    struct rlimit lower = {1024, lim.rlim_max};
    CHECK("setrlimit nofile", setrlimit(RLIMIT_NOFILE, &lower) == 0 && getrlimit(RLIMIT_NOFILE, &lim) == 0
          && lim.rlim_cur == 1024);
    struct rlimit inverted = {10, 5};
    ERRNO_OF("soft above hard", setrlimit(RLIMIT_NOFILE, &inverted));
    ERRNO_OF("bad resource", syscall(SYS_prlimit64, 0, 99, NULL, &lim));
    unsigned long fs;
    static __thread int tls_marker;
    CHECK("ARCH_GET_FS is the TLS base", syscall(SYS_arch_prctl, 0x1003, &fs) == 0
          && fs - (unsigned long)&tls_marker < 65536);
    ERRNO_OF("arch_prctl bad code", syscall(SYS_arch_prctl, 0x9999, 0));
    syscall(SYS_exit_group, 7);
    return 0;
}
