/*
 * RLIMIT_SIGPENDING bounds the real-time signals queued for a user (Linux's __sigqueue_alloc):
 * past it sigqueue and tgkill fail with EAGAIN, kill succeeds but its instance is not queued
 * again (the signal stays pending once); the queue drained, sending works again. Standard
 * signals coalesce and never fail. A child of the same user counts against the same bound.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIMIT 8

static void show(const char *what, int r) {
    printf("%s = %d%s%s\n", what, r, r ? " " : "", r ? strerror(errno) : "");
}

static int drain(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    struct timespec zero = {0, 0};
    int n = 0;
    while (sigtimedwait(&set, NULL, &zero) == signo)
        n++;
    return n;
}

int main(void) {
    struct rlimit limit = {LIMIT, LIMIT};
    show("setrlimit", setrlimit(RLIMIT_SIGPENDING, &limit));
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGRTMIN);
    sigaddset(&blocked, SIGRTMIN + 1);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    show("kill of a standard signal, first", kill(getpid(), SIGUSR2));  /* it takes one place */
    union sigval value = {.sival_int = 7};
    int queued = 0;
    for (int i = 0; i < LIMIT + 3; i++)
        if (sigqueue(getpid(), SIGRTMIN, value) == 0)
            queued++;
    printf("sigqueue: %d of %d queued\n", queued, LIMIT + 3);
    show("sigqueue past the limit", sigqueue(getpid(), SIGRTMIN, value));
    show("tgkill past the limit", (int)syscall(SYS_tgkill, getpid(), gettid(), SIGRTMIN));
    show("kill past the limit", kill(getpid(), SIGRTMIN));
    show("kill of another real-time signal past the limit", kill(getpid(), SIGRTMIN + 1));
    show("sigqueue of a standard signal", sigqueue(getpid(), SIGUSR1, value));
    show("sigqueue of a standard signal again", sigqueue(getpid(), SIGUSR1, value));

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {  /* same user, same count: full */
        show("child: sigqueue to itself", sigqueue(getpid(), SIGRTMIN, value));
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, NULL, 0);

    printf("drained: %d SIGRTMIN, %d SIGRTMIN+1, %d SIGUSR1, %d SIGUSR2\n", drain(SIGRTMIN),
           drain(SIGRTMIN + 1), drain(SIGUSR1), drain(SIGUSR2));
    show("sigqueue after draining", sigqueue(getpid(), SIGRTMIN, value));
    printf("drained: %d SIGRTMIN\n", drain(SIGRTMIN));
    return 0;
}
