/* ppoll, pselect6, epoll_pwait and epoll_pwait2 wait with the signal mask they are given:
   a blocked signal already pending runs its handler as soon as the wait unblocks it, the call
   fails with EINTR, and the caller's mask is back afterwards; a wait that times out under a
   mask leaves the caller's mask as it was. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static volatile sig_atomic_t usr2_blocked_in_handler = -1;

static void on_usr1(int signo) {
    (void)signo;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    handled++;
    usr2_blocked_in_handler = sigismember(&now, SIGUSR2);
}

static const char *errno_name(int value) {
    switch (value) {
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    default: return "other";
    }
}

static void report(const char *name, int result, int saved_errno) {
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("%s: result %d errno %s, handled %d, usr2 blocked in handler %d, usr1 blocked after %d\n",
           name, result, result < 0 ? errno_name(saved_errno) : "-", handled,
           usr2_blocked_in_handler, sigismember(&now, SIGUSR1));
    handled = 0;
    usr2_blocked_in_handler = -1;
}

int main(void) {
    struct sigaction action = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &action, NULL);
    sigset_t blocked, wait_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    sigemptyset(&wait_mask);
    sigaddset(&wait_mask, SIGUSR2); /* the handler runs under the wait's mask */

    int pipefd[2];
    pipe(pipefd);
    struct pollfd entry = {.fd = pipefd[0], .events = POLLIN};
    struct timespec long_wait = {.tv_sec = 30};
    struct timespec no_wait = {0};

    raise(SIGUSR1);
    int result = ppoll(&entry, 1, &long_wait, &wait_mask);
    report("ppoll", result, errno);

    raise(SIGUSR1);
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(pipefd[0], &readable);
    result = pselect(pipefd[0] + 1, &readable, NULL, NULL, &long_wait, &wait_mask);
    report("pselect", result, errno);

    int epfd = epoll_create1(0);
    struct epoll_event interest = {.events = EPOLLIN, .data.fd = pipefd[0]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, pipefd[0], &interest);
    struct epoll_event ready;
    raise(SIGUSR1);
    result = epoll_pwait(epfd, &ready, 1, 30000, &wait_mask);
    report("epoll_pwait", result, errno);

    raise(SIGUSR1);
    result = syscall(SYS_epoll_pwait2, epfd, &ready, 1, &long_wait, &wait_mask, 8);
    report("epoll_pwait2", result, errno);

    /* Timed out under a mask that still blocks SIGUSR1: nothing runs, the mask is unchanged. */
    raise(SIGUSR1);
    result = ppoll(&entry, 1, &no_wait, &blocked);
    report("ppoll, still blocked", result, errno);
    sigset_t pending;
    sigpending(&pending);
    printf("still pending: %d\n", sigismember(&pending, SIGUSR1));

    /* A ready fd under an unblocking mask: the files come first, so the call returns its
       count, the old mask comes back at once, and the pending signal stays pending. */
    write(pipefd[1], "x", 1);
    result = ppoll(&entry, 1, &long_wait, &wait_mask);
    report("ppoll, ready fd", result, errno);

    /* A bad sigset size is EINVAL. */
    result = syscall(SYS_ppoll, &entry, 1, &no_wait, &wait_mask, 4);
    report("ppoll, bad size", result, errno);
    return 0;
}
