/*
 * wait4 while the awaited child's own SIGCHLD (caught, without SA_RESTART) arrives: Linux looks
 * at the children before the signal, so wait4 returns the child, and the handler runs after.
 * wait4(INT_MIN) is ESRCH (-INT_MIN names no process group).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld;

static void caught(int sig) { sigchld++; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction action = {.sa_handler = caught};  /* no SA_RESTART */
    sigaction(SIGCHLD, &action, NULL);
    for (int round = 0; round < 3; round++) {
        pid_t child = fork();
        if (child == 0) {
            struct timespec nap = {0, 50000000};
            nanosleep(&nap, NULL);
            _exit(7);
        }
        int status = 0;
        pid_t got = wait4(child, &status, 0, NULL);
        printf("round %d: wait4 returned the child: %d (%s), status %d, SIGCHLD handled: %d\n", round, got == child,
               got == -1 ? strerrorname_np(errno) : "ok", WEXITSTATUS(status), sigchld > round);
    }
    long result = wait4(INT_MIN, NULL, 0, NULL);
    printf("wait4(INT_MIN): %ld %s\n", result, strerrorname_np(errno));
    result = wait4(INT_MIN, NULL, WNOHANG, NULL);
    printf("wait4(INT_MIN, WNOHANG): %ld %s\n", result, strerrorname_np(errno));
    result = wait4(-INT_MAX, NULL, 0, NULL);
    printf("wait4(-INT_MAX): %ld %s\n", result, strerrorname_np(errno));
    result = wait4(INT_MIN, NULL, 0x4000, NULL);
    printf("wait4(INT_MIN, bad options): %ld %s\n", result, strerrorname_np(errno));
    return 0;
}
