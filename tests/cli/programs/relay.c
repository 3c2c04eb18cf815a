/* Catches SIGINT, SIGTERM and SIGHUP, says who sent each, and goes on waiting. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void caught(int sig, siginfo_t *info, void *context) {
    (void)context;
    char line[96];
    int length = snprintf(line, sizeof line, "got %s from pid %d\n", strsignal(sig), (int)info->si_pid);
    write(1, line, length);
}

int main(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = caught;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
