/* Three SIGALRMs from an interval timer: the kernel fires them, not the thread that armed it. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t fired;

static void on_alarm(int signo) { (void)signo; fired++; }

int main(void) {
    struct itimerval every = {{0, 20000}, {0, 20000}};
    signal(SIGALRM, on_alarm);
    setitimer(ITIMER_REAL, &every, NULL);
    while (fired < 3)
        pause();
    printf("%d alarms\n", (int)fired);
    return 0;
}
