/* A FUTEX_WAIT interrupted three ways: a caught signal (EINTR without SA_RESTART, a transparent
 * restart with it), a stop and continue of the waiting process, and a tracer's PTRACE_INTERRUPT;
 * each waiter is then woken by a FUTEX_WAKE and says what its wait returned. The waiter writes
 * its report into shared memory and the parent prints it once the waiter has exited: two
 * processes printing right after a wake-up come out in either order, on Linux too. */
#define _GNU_SOURCE
#include <errno.h>
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int *word;      /* shared between processes: a futex both sides name */
static char *report;   /* shared too: what the waiter's wait returned, printed by the parent */
static volatile int caught;

static long futex(int *addr, int op, int val) { return syscall(SYS_futex, addr, op, val, NULL, NULL, 0); }
static void handler(int s) { caught = s; }
static void nap(void) { struct timespec t = {0, 100 * 1000 * 1000}; nanosleep(&t, NULL); }

static void wait_and_report(const char *what) {
    long r = futex(word, FUTEX_WAIT, 0);
    snprintf(report, 256, "%s: wait returned %ld %s, caught %d", what, r, r < 0 ? strerror(errno) : "", caught);
}

/* A child that waits on the word (after setting up its handler, if any) and reports. */
static pid_t waiter(const char *what, int handle, int restart) {
    *word = 0;
    pid_t child = fork();
    if (child == 0) {
        if (handle) {
            struct sigaction sa = {.sa_handler = handler, .sa_flags = restart ? SA_RESTART : 0};
            sigaction(SIGUSR1, &sa, NULL);
        }
        wait_and_report(what);
        _exit(0);
    }
    nap();
    return child;
}

static void wake_and_reap(pid_t child) {
    nap();
    printf("woke %ld\n", futex(word, FUTEX_WAKE, 1));
    fflush(stdout);
    int status;
    waitpid(child, &status, 0);
    printf("%s\n", report);
    printf("exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void by_signal(int restart) {
    pid_t child = waiter(restart ? "signal, SA_RESTART" : "signal", 1, restart);
    kill(child, SIGUSR1);
    wake_and_reap(child);
}

static void by_stop(void) {
    pid_t child = waiter("stop and continue", 0, 0);
    int status;
    kill(child, SIGSTOP);
    waitpid(child, &status, WUNTRACED);
    printf("stopped: %d\n", WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP);
    kill(child, SIGCONT);
    wake_and_reap(child);
}

static void by_ptrace(void) {
    pid_t child = waiter("ptrace interrupt", 0, 0);
    int status;
    printf("seize %ld\n", ptrace(PTRACE_SEIZE, child, 0, 0));
    printf("interrupt %ld\n", ptrace(PTRACE_INTERRUPT, child, 0, 0));
    waitpid(child, &status, 0);
    printf("event stop: %d\n", status >> 8 == (SIGTRAP | PTRACE_EVENT_STOP << 8));
    printf("cont %ld\n", ptrace(PTRACE_CONT, child, 0, 0));
    wake_and_reap(child);
}

int main(void) {
    word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    report = (char *)word + 64;
    setvbuf(stdout, NULL, _IOLBF, 0);
    by_signal(0);
    by_signal(1);
    by_stop();
    by_ptrace();
    return 0;
}
