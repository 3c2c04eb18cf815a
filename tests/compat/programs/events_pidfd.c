/* pidfd_open, pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD): errors, readiness when the
 * process exits, signals through a pidfd, fds taken from a child, and a pid reaped.
 * Usage: events_pidfd CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
    return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}
static int pidfd_getfd(int fd, int target, unsigned flags) { return syscall(SYS_pidfd_getfd, fd, target, flags); }

static pid_t sleeper(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(3);
    }
    return pid;
}

static void open_case(void)
{
    int self = pidfd_open(getpid(), 0);
    show("own pidfd", self >= 0);
    show("cloexec", fcntl(self, F_GETFD) & FD_CLOEXEC);
    show("flags rdwr", fcntl(self, F_GETFL) & O_ACCMODE);
    show("pid 0", pidfd_open(0, 0));
    show("pid -1", pidfd_open(-1, 0));
    show("no such pid", pidfd_open(99999, 0));
    show("bad flags", pidfd_open(getpid(), 1));
    int nb = pidfd_open(getpid(), PIDFD_NONBLOCK);
    show("nonblock", !!(fcntl(nb, F_GETFL) & O_NONBLOCK));
    char buf[8];
    show("read", read(self, buf, sizeof buf));
    show("write", write(self, buf, sizeof buf));
    struct pollfd p = {self, POLLIN, 0};
    show("poll of a live process", poll(&p, 1, 0));
    show("send to a non-pidfd", pidfd_send_signal(1, 0, NULL, 0));
    show("send bad fd", pidfd_send_signal(99, 0, NULL, 0));
    show("send bad flags", pidfd_send_signal(self, 0, NULL, 8));
    show("send signal 0 to self", pidfd_send_signal(self, 0, NULL, 0));
    show("send bad signal", pidfd_send_signal(self, 200, NULL, 0));
    show("getfd bad flags", pidfd_getfd(self, 0, 1));
    show("getfd of a non-pidfd", pidfd_getfd(1, 0, 0));
    show("getfd bad target fd", pidfd_getfd(self, 99, 0));
    int dup = pidfd_getfd(self, 1, 0);
    show("getfd own stdout", dup >= 0);
    show("getfd cloexec", fcntl(dup, F_GETFD) & FD_CLOEXEC);
    show("waitid own pidfd", waitid(P_PIDFD, self, NULL, WEXITED | WNOHANG));
    show("waitid P_PIDFD -1", waitid(P_PIDFD, -1, NULL, WEXITED));
    show("waitid P_PIDFD bad fd", waitid(P_PIDFD, 99, NULL, WEXITED));
    show("waitid P_PIDFD non-pidfd", waitid(P_PIDFD, 1, NULL, WEXITED));
}

static void exit_case(void)
{
    pid_t pid = sleeper();
    int fd = pidfd_open(pid, 0);
    struct pollfd p = {fd, POLLIN, 0};
    show("poll before", poll(&p, 1, 0));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 5}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    show("epoll before", epoll_wait(ep, &out, 1, 0));
    show("send SIGTERM", pidfd_send_signal(fd, SIGTERM, NULL, 0));
    show("poll waits for the exit", poll(&p, 1, 5000));
    printf("revents %#x\n", p.revents);
    show("epoll after", epoll_wait(ep, &out, 1, 5000));
    show("signal to a zombie", pidfd_send_signal(fd, 0, NULL, 0));
    show("getfd of a zombie", pidfd_getfd(fd, 0, 0));
    siginfo_t info;
    memset(&info, 0, sizeof info);
    show("waitid P_PIDFD", waitid(P_PIDFD, fd, &info, WEXITED));
    printf("pid matches %d code %d status %d\n", info.si_pid == pid, info.si_code, info.si_status);
    show("signal after reap", pidfd_send_signal(fd, 0, NULL, 0));
    show("waitid after reap", waitid(P_PIDFD, fd, &info, WEXITED));
}

static void nonblock_case(void)
{
    pid_t pid = sleeper();
    int fd = pidfd_open(pid, PIDFD_NONBLOCK);
    siginfo_t info;
    show("waitid nonblocking pidfd of a live child", waitid(P_PIDFD, fd, &info, WEXITED));
    memset(&info, 0, sizeof info);
    show("with WNOHANG", waitid(P_PIDFD, fd, &info, WEXITED | WNOHANG));
    printf("pid %d\n", info.si_pid);
    kill(pid, SIGKILL);
    int blocking = pidfd_open(pid, 0);
    show("waitid blocking pidfd", waitid(P_PIDFD, blocking, &info, WEXITED));
    printf("code %d status %d\n", info.si_code, info.si_status);
    show("not our child", waitid(P_PIDFD, pidfd_open(getppid() > 0 ? getppid() : 1, 0), &info, WEXITED | WNOHANG));
}

static void getfd_case(void)
{
    int pipefd[2];
    pipe(pipefd);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[1]);
        int other[2];
        pipe(other); /* its fds 4 and 5 are not the parent's */
        write(other[1], "from the child", 14);
        char c;
        read(pipefd[0], &c, 1);
        _exit(0);
    }
    close(pipefd[0]);
    int fd = pidfd_open(pid, 0);
    usleep(100000);
    int taken = pidfd_getfd(fd, 4, 0); /* the child's other[0] */
    show("getfd the child's pipe", taken >= 0);
    char buf[32] = "";
    show("read it", read(taken, buf, 14));
    printf("got: %s\n", buf);
    show("send with info of another signal", ({
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = SIGUSR1;
        info.si_code = SI_QUEUE;
        pidfd_send_signal(fd, SIGUSR2, &info, 0);
    }));
    show("send with info, kernel code", ({
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = SIGUSR1;
        info.si_code = SI_KERNEL;
        pidfd_send_signal(fd, SIGUSR1, &info, 0);
    }));
    write(pipefd[1], "x", 1);
    waitpid(pid, NULL, 0);
}

static void user_case(void)
{
    /* Another user's process may neither be robbed of fds without CAP_SYS_PTRACE, nor signalled
     * by a third user. */
    pid_t pid = fork();
    if (pid == 0) {
        setresgid(1000, 1000, 1000);
        setresuid(1000, 1000, 1000);
        pause();
        _exit(0);
    }
    usleep(100000);
    int fd = pidfd_open(pid, 0);
    show("getfd from another user's process", pidfd_getfd(fd, 0, 0));
    pid_t other = fork();
    if (other == 0) {
        setresgid(2000, 2000, 2000);
        setresuid(2000, 2000, 2000);
        show("a third user signals it", pidfd_send_signal(fd, SIGTERM, NULL, 0));
        show("a third user opens a pidfd of it", pidfd_open(pid, 0) >= 0);
        _exit(0);
    }
    waitpid(other, NULL, 0);
    show("root signals it", pidfd_send_signal(fd, SIGKILL, NULL, 0));
    siginfo_t info;
    show("reaped", waitid(P_PIDFD, fd, &info, WEXITED));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (!strcmp(what, "open"))
        open_case();
    else if (!strcmp(what, "exit"))
        exit_case();
    else if (!strcmp(what, "nonblock"))
        nonblock_case();
    else if (!strcmp(what, "getfd"))
        getfd_case();
    else if (!strcmp(what, "user"))
        user_case();
    else
        return 2;
    return 0;
}
