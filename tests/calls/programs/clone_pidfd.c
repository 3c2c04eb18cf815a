/* CLONE_PIDFD through clone(2) (the pidfd stored at parent_tid) and clone3 (at cl_args.pidfd):
 * the errors Linux gives, close-on-exec, readable when the child exits, reaped through
 * waitid(P_PIDFD), signalled through pidfd_send_signal, and not inherited by the child.
 * Usage: clone_pidfd CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif


/* A fork-like clone(2): no new stack, so the child returns here as fork's does. */
static long raw_clone(unsigned long flags, int *parent_tid)
{
    return syscall(SYS_clone, flags, NULL, parent_tid, NULL, 0);
}

static long raw_clone3(struct clone_args *args)
{
    return syscall(SYS_clone3, args, sizeof *args);
}

static void errors_case(void)
{
    int fd = -1;
    show("clone PIDFD|PARENT_SETTID", raw_clone(CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, &fd));
    show("clone PIDFD|DETACHED", raw_clone(CLONE_PIDFD | CLONE_DETACHED | SIGCHLD, &fd));
    show("clone PIDFD bad address", raw_clone(CLONE_PIDFD | SIGCHLD, (int *)8));
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("clone PIDFD read-only address", raw_clone(CLONE_PIDFD | SIGCHLD, ro));
    struct clone_args args = {0};
    args.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
    args.pidfd = (uintptr_t)&fd;
    args.parent_tid = (uintptr_t)&fd;
    args.exit_signal = SIGCHLD;
    show("clone3 pidfd == parent_tid", raw_clone3(&args));
    args.flags = CLONE_PIDFD | CLONE_DETACHED;
    show("clone3 PIDFD|DETACHED", raw_clone3(&args));
    args.flags = CLONE_PIDFD;
    args.pidfd = 8;
    show("clone3 bad pidfd address", raw_clone3(&args));
    printf("fd untouched %d\n", fd);
    show("no child was made", waitpid(-1, NULL, WNOHANG));
}

static void clone_case(void)
{
    int fd = -1;
    long pid = raw_clone(CLONE_PIDFD | SIGCHLD, &fd);
    if (pid == 0) {
        /* The child has no copy of the parent's pidfd (it was made after the table was copied). */
        _exit(fcntl(3, F_GETFD) < 0 && errno == EBADF ? 7 : 8);
    }
    show("clone returned a pid", pid > 0);
    show("pidfd is the lowest free fd", fd);
    show("cloexec", fcntl(fd, F_GETFD) & FD_CLOEXEC);
    show("flags rdwr", fcntl(fd, F_GETFL) & O_ACCMODE);
    struct pollfd p = {fd, POLLIN, 0};
    show("poll waits for the exit", poll(&p, 1, 5000));
    printf("revents %#x\n", p.revents);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    show("waitid P_PIDFD", waitid(P_PIDFD, fd, &info, WEXITED));
    printf("pid matches %d code %d status %d\n", info.si_pid == pid, info.si_code, info.si_status);
    show("signal after reap", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0));
}

static void clone3_case(void)
{
    int fd = -1, ptid = -1;
    struct clone_args args = {0};
    args.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
    args.pidfd = (uintptr_t)&fd;
    args.parent_tid = (uintptr_t)&ptid;
    args.exit_signal = SIGCHLD;
    long pid = raw_clone3(&args);
    if (pid == 0) {
        pause();
        _exit(1);
    }
    show("clone3 returned a pid", pid > 0);
    show("parent_tid is the pid", ptid == pid);
    show("pidfd is the lowest free fd", fd);
    show("cloexec", fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct pollfd p = {fd, POLLIN, 0};
    show("poll of a live child", poll(&p, 1, 0));
    show("send SIGTERM through it", syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0));
    show("poll waits for the exit", poll(&p, 1, 5000));
    siginfo_t info;
    memset(&info, 0, sizeof info);
    show("waitid P_PIDFD", waitid(P_PIDFD, fd, &info, WEXITED));
    printf("pid matches %d code %d status %d\n", info.si_pid == pid, info.si_code, info.si_status);
}

static void vfork_case(void)
{
    /* posix_spawn's shape: CLONE_VM|CLONE_VFORK, the parent resumes at the child's exit. */
    int fd = -1;
    struct clone_args args = {0};
    args.flags = CLONE_PIDFD | CLONE_VFORK;
    args.pidfd = (uintptr_t)&fd;
    args.exit_signal = SIGCHLD;
    long pid = raw_clone3(&args);
    if (pid == 0)
        _exit(5);
    show("vfork pidfd", fd);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    show("waitid P_PIDFD", waitid(P_PIDFD, fd, &info, WEXITED));
    printf("code %d status %d\n", info.si_code, info.si_status);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (!strcmp(what, "errors"))
        errors_case();
    else if (!strcmp(what, "clone"))
        clone_case();
    else if (!strcmp(what, "clone3"))
        clone3_case();
    else if (!strcmp(what, "vfork"))
        vfork_case();
    else
        return 2;
    return 0;
}
