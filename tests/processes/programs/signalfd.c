/* signalfd: reading blocked signals as struct signalfd_siginfo, nonblocking and blocking reads,
 * poll and epoll readiness, changing the mask, a child's SIGCHLD, and the errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, const struct signalfd_siginfo *si) {
    printf("%s: signo %u code %d pid-is-me %d uid %u status %d int %d ptr %llu errno %d\n", what,
           si->ssi_signo, si->ssi_code, si->ssi_pid == (unsigned)getpid(), si->ssi_uid, si->ssi_status,
           si->ssi_int, (unsigned long long)si->ssi_ptr, si->ssi_errno);
}

static int ready(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    return n == 1 ? p.revents : -n - 100;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    long r = syscall(SYS_signalfd4, -1, &mask, 8, 1);
    printf("bad flags: %ld errno %d\n", r, errno);
    r = syscall(SYS_signalfd4, -1, &mask, 4, 0);
    printf("bad size: %ld errno %d\n", r, errno);
    r = signalfd(1, &mask, 0);
    printf("not a signalfd: %ld errno %d\n", r, errno);
    r = signalfd(99, &mask, 0);
    printf("bad fd: %ld errno %d\n", r, errno);
    r = syscall(SYS_signalfd4, -1, (void *)8, 8, 0);
    printf("bad mask pointer: %ld errno %d\n", r, errno);

    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    printf("fd flags: cloexec %d nonblock %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    struct signalfd_siginfo si[4];
    ssize_t n;
    n = read(fd, si, sizeof si);
    printf("empty: %zd errno %d, ready %d\n", n, errno, ready(fd));
    n = read(fd, si, sizeof si[0] - 1);
    printf("small buffer: %zd errno %d\n", n, errno);

    kill(getpid(), SIGUSR1);
    printf("after kill: ready %#x\n", ready(fd));
    sigset_t pending;
    sigpending(&pending);
    printf("pending before read: %d\n", sigismember(&pending, SIGUSR1));
    n = read(fd, si, sizeof si);
    printf("read %zd\n", n);
    show("kill", &si[0]);
    printf("after read: ready %d\n", ready(fd));

    union sigval value = {.sival_int = 42};
    sigqueue(getpid(), SIGRTMIN + 1, value);
    value.sival_int = 43;
    sigqueue(getpid(), SIGRTMIN + 1, value);
    n = read(fd, si, sizeof si);
    printf("two queued: read %zd\n", n);
    show("queued 1", &si[0]);
    show("queued 2", &si[1]);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    printf("epoll empty: %d\n", epoll_wait(ep, &out, 1, 0));

    pid_t child = fork();
    if (child == 0)
        _exit(3);
    int got = epoll_wait(ep, &out, 1, 5000);
    printf("epoll after child: %d data %u events %#x\n", got, out.data.u32, out.events);
    n = read(fd, si, sizeof si);
    printf("read %zd\n", n);
    printf("child: signo %u code %d pid-is-child %d status %d\n", si[0].ssi_signo, si[0].ssi_code,
           si[0].ssi_pid == (unsigned)child, si[0].ssi_status);
    waitpid(child, NULL, 0);

    /* Change the mask of the existing fd: only SIGUSR2 now. */
    sigset_t other;
    sigemptyset(&other);
    sigaddset(&other, SIGUSR2);
    sigprocmask(SIG_BLOCK, &other, NULL);
    printf("remask: %d\n", signalfd(fd, &other, 0) == fd);
    kill(getpid(), SIGUSR1);
    int r1 = ready(fd);
    n = read(fd, si, sizeof si);
    printf("SIGUSR1 not in mask: ready %d read %zd errno %d\n", r1, n, errno);
    struct timespec zero = {0, 0};
    printf("SIGUSR1 still pending: %d\n", sigtimedwait(&mask, NULL, &zero));
    kill(getpid(), SIGUSR2);
    n = read(fd, si, sizeof si);
    printf("SIGUSR2: read %zd signo %u\n", n, si[0].ssi_signo);

    /* A blocking signalfd: a child sends the signal later. */
    int bfd = signalfd(-1, &mask, 0);
    pid_t sender = fork();
    if (sender == 0) {
        usleep(100000);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    struct signalfd_siginfo one;
    n = read(bfd, &one, sizeof one);
    printf("blocking read %zd signo %u pid-is-sender %d\n", n, one.ssi_signo, one.ssi_pid == (unsigned)sender);
    n = read(bfd, &one, sizeof one);
    printf("sender's: read %zd signo %u pid-is-sender %d\n", n, one.ssi_signo, one.ssi_pid == (unsigned)sender);
    return 0;
}
