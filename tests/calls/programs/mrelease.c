/* process_mrelease: EINVAL for flags and for a live process, EBADF for a bad or non-pidfd fd,
 * ESRCH for a dead one (a zombie, whose memory is gone) and once it is reaped. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static long mrelease(int fd, unsigned flags) { return syscall(SYS_process_mrelease, fd, flags); }

int main(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    int fd = syscall(SYS_pidfd_open, pid, 0);
    show("bad flags", mrelease(fd, 1));
    show("bad fd", mrelease(99, 0));
    show("not a pidfd", mrelease(1, 0));
    show("live child", mrelease(fd, 0));
    kill(pid, SIGKILL);
    siginfo_t info;
    show("wait for the zombie", waitid(P_PIDFD, fd, &info, WEXITED | WNOWAIT));
    show("zombie", mrelease(fd, 0));
    show("reap", waitid(P_PIDFD, fd, &info, WEXITED));
    show("reaped", mrelease(fd, 0));
    return 0;
}
