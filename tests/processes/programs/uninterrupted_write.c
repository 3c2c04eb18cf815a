/* A write that need not wait is never interrupted: with a timer signal (no SA_RESTART) arriving
 * every 100 µs, many small writes to stdout (a pipe with room) all complete, as on Linux. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile long ticks;

static void on_alarm(int signo) { (void)signo; ticks++; }

int main(void) {
    struct sigaction action = {.sa_handler = on_alarm};  /* no SA_RESTART: a sleep would see EINTR */
    sigaction(SIGALRM, &action, NULL);
    struct itimerval timer = {.it_interval = {0, 100}, .it_value = {0, 100}};
    setitimer(ITIMER_REAL, &timer, NULL);
    long interrupted = 0, short_writes = 0;
    for (int i = 0; i < 20000; i++) {
        ssize_t n = write(1, "x", 1);
        if (n < 0 && errno == EINTR)
            interrupted++;
        else if (n != 1)
            short_writes++;
    }
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    fprintf(stderr, "interrupted %ld, failed %ld, ticks %s\n", interrupted, short_writes, ticks ? "some" : "none");
    return 0;
}
