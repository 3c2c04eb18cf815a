/* /proc/self/status's signal lines: pending for the thread and the process, blocked, ignored
 * and caught, as a shell or CPython's test_subprocess reads them. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void handler(int sig) { (void)sig; }

static void show(const char *when) {
    char line[256];
    FILE *status = fopen("/proc/self/status", "r");
    if (!status) { printf("%s: no /proc\n", when); return; }
    while (fgets(line, sizeof line, status))
        if ((!strncmp(line, "Sig", 3) && strncmp(line, "SigQ", 4)) || !strncmp(line, "ShdPnd", 6))
            printf("%s: %s", when, line);  /* (SigQ counts the whole host user's signals) */
    fclose(status);
}

int main(void) {
    show("start");
    signal(SIGINT, SIG_IGN);
    signal(SIGUSR1, handler);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);              /* pending for this thread */
    kill(getpid(), SIGTERM);     /* pending for the process */
    show("after");
    return 0;
}
