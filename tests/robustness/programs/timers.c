/*
 * Time values a hostile guest picks: sleeps and timers of 2^63 seconds (Linux saturates them at
 * KTIME_MAX, 292 years, and writes back what is left without overflow), the CPU-time interval
 * timers (ITIMER_VIRTUAL, ITIMER_PROF), and the CPU-time clock ids clock_getcpuclockid and
 * pthread_getcpuclockid make (negative numbers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KTIME_SEC_MAX 9223372036L
#define MAKE_PROCESS_CPUCLOCK(pid, which) ((~(clockid_t)(pid) << 3) | (clockid_t)(which))
#define MAKE_THREAD_CPUCLOCK(tid, which) (MAKE_PROCESS_CPUCLOCK(tid, which) | 4)

static volatile sig_atomic_t fired[65];

static void count(int sig) { fired[sig]++; }

static void on(int sig) {
    struct sigaction action = {.sa_handler = count};  /* no SA_RESTART: sleeps end with EINTR */
    sigaction(sig, &action, NULL);
}

static const char *err(long result) { return result == -1 ? strerrorname_np(errno) : "ok"; }

static void alarm_in_ms(long ms) {
    struct itimerval soon = {.it_value = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000}};
    setitimer(ITIMER_REAL, &soon, NULL);
}

static void huge_sleeps(void) {
    on(SIGALRM);
    struct timespec huge = {LONG_MAX, 999999999}, rem = {0, 0};
    alarm_in_ms(50);
    long r = nanosleep(&huge, &rem);
    printf("nanosleep(LONG_MAX s): %s, rem ~ KTIME_MAX: %d, rem.tv_nsec valid: %d\n", err(r),
           rem.tv_sec > KTIME_SEC_MAX - 100000 && rem.tv_sec <= KTIME_SEC_MAX, rem.tv_nsec >= 0 && rem.tv_nsec < 1000000000);
    struct timespec at_max = {KTIME_SEC_MAX, 854775807};
    alarm_in_ms(50);
    r = nanosleep(&at_max, &rem);
    printf("nanosleep(KTIME_MAX): %s, rem ~ KTIME_MAX: %d\n", err(r), rem.tv_sec > KTIME_SEC_MAX - 100000);
    alarm_in_ms(50);
    int e = clock_nanosleep(CLOCK_MONOTONIC, 0, &huge, &rem);
    printf("clock_nanosleep(MONOTONIC, LONG_MAX s): %s, rem ~ KTIME_MAX: %d\n", e ? strerrorname_np(e) : "ok",
           rem.tv_sec > KTIME_SEC_MAX - 100000);
    alarm_in_ms(50);
    e = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &huge, NULL);
    printf("clock_nanosleep(REALTIME, ABSTIME, LONG_MAX s): %s\n", e ? strerrorname_np(e) : "ok");
    struct timespec bad = {-1, 0}, bad_ns = {0, 1000000000};
    printf("nanosleep(-1 s): %s; nanosleep(1e9 ns): %s\n", err(nanosleep(&bad, NULL)), err(nanosleep(&bad_ns, NULL)));
    printf("SIGALRM count: %d\n", fired[SIGALRM]);
}

static void huge_posix_timer(void) {
    timer_t timer;
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    if (timer_create(CLOCK_MONOTONIC, &none, &timer))
        perror("timer_create");
    struct itimerspec huge = {{LONG_MAX, 999999999}, {LONG_MAX, 999999999}}, now, old;
    printf("timer_settime(LONG_MAX s): %s\n", err(timer_settime(timer, 0, &huge, NULL)));
    printf("timer_gettime: %s", err(timer_gettime(timer, &now)));
    printf(", interval %ld.%09ld, value ~ KTIME_MAX: %d\n", now.it_interval.tv_sec, now.it_interval.tv_nsec,
           now.it_value.tv_sec > KTIME_SEC_MAX - 100000000);
    struct itimerspec zero = {{LONG_MAX, 0}, {0, 0}};
    printf("timer_settime(0 value): %s", err(timer_settime(timer, 0, &zero, &old)));
    printf(", old interval %ld.%09ld\n", old.it_interval.tv_sec, old.it_interval.tv_nsec);
    timer_gettime(timer, &now);
    /* Linux quirk: a disarmed SIGEV_NONE timer still shows the time that was left on it. */
    printf("disarmed: interval %ld.%09ld, old value still shown: %d\n", now.it_interval.tv_sec,
           now.it_interval.tv_nsec, now.it_value.tv_sec > KTIME_SEC_MAX - 100000000);
    printf("timer_settime(ABSTIME, LONG_MAX s): %s\n", err(timer_settime(timer, TIMER_ABSTIME, &huge, NULL)));
    struct itimerspec bad = {{0, 0}, {0, -1}};
    printf("timer_settime(-1 ns): %s\n", err(timer_settime(timer, 0, &bad, NULL)));
    struct itimerspec tiny = {{0, 1}, {0, 1}};
    printf("timer_settime(1 ns period): %s\n", err(timer_settime(timer, 0, &tiny, NULL)));
    timer_delete(timer);

    timer_t cpu_timer;
    struct sigevent prof = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    on(SIGUSR1);
    printf("timer_create(PROCESS_CPUTIME): %s\n", err(timer_create(CLOCK_PROCESS_CPUTIME_ID, &prof, &cpu_timer)));
    struct itimerspec soon = {{0, 0}, {0, 20000000}};
    timer_settime(cpu_timer, 0, &soon, NULL);
    struct timespec start, at;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do
        clock_gettime(CLOCK_MONOTONIC, &at);
    while (!fired[SIGUSR1] && at.tv_sec - start.tv_sec < 20);
    printf("CPU-time POSIX timer fired: %d\n", fired[SIGUSR1] > 0);
    timer_delete(cpu_timer);
}

static void huge_itimers(void) {
    struct itimerval huge = {{LONG_MAX, 999999}, {LONG_MAX, 999999}}, now;
    printf("setitimer(REAL, LONG_MAX s): %s\n", err(setitimer(ITIMER_REAL, &huge, NULL)));
    getitimer(ITIMER_REAL, &now);
    printf("getitimer(REAL): interval %ld.%06ld, value ~ KTIME_MAX: %d\n", now.it_interval.tv_sec,
           now.it_interval.tv_usec, now.it_value.tv_sec > KTIME_SEC_MAX - 100000000);
    printf("alarm(0) after it: nonzero %d\n", alarm(0) != 0);
    struct itimerval bad = {{0, 0}, {0, 1000000}};
    printf("setitimer(1e6 us): %s\n", err(setitimer(ITIMER_REAL, &bad, NULL)));
    printf("setitimer(which 3): %s\n", err(setitimer(3, &huge, NULL)));

    for (int which = ITIMER_VIRTUAL; which <= ITIMER_PROF; which++) {
        int sig = which == ITIMER_VIRTUAL ? SIGVTALRM : SIGPROF;
        on(sig);
        printf("getitimer(%s) before: %s", which == ITIMER_VIRTUAL ? "VIRTUAL" : "PROF", err(getitimer(which, &now)));
        printf(" %ld %ld %ld %ld\n", now.it_interval.tv_sec, now.it_interval.tv_usec, now.it_value.tv_sec,
               now.it_value.tv_usec);
        struct itimerval cpu = {{0, 0}, {0, 20000}};
        printf("setitimer: %s", err(setitimer(which, &cpu, NULL)));
        getitimer(which, &now);
        /* Linux adds a tick to a CPU timer's value, so it reads a little above what was set. */
        printf(", armed: %d, a tick added: %d\n", now.it_value.tv_sec == 0 && now.it_value.tv_usec > 0,
               now.it_value.tv_usec > 20000);
        struct timespec start, at;
        clock_gettime(CLOCK_MONOTONIC, &start);
        do
            clock_gettime(CLOCK_MONOTONIC, &at);
        while (!fired[sig] && at.tv_sec - start.tv_sec < 20);
        printf("signal %d fired: %d\n", sig, fired[sig]);
        getitimer(which, &now);
        printf("after: %ld %ld %ld %ld\n", now.it_interval.tv_sec, now.it_interval.tv_usec, now.it_value.tv_sec,
               now.it_value.tv_usec);
    }
}

static volatile int spinning = 1;

static void *spin(void *arg) {
    while (spinning)
        ;
    return NULL;
}

static void cpu_clocks(void) {
    struct timespec ts;
    clockid_t id;
    printf("PROCESS_CPUTIME: %s\n", err(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)));
    printf("clock_getcpuclockid(0): %d", clock_getcpuclockid(0, &id));
    printf(", gettime: %s, id %d\n", err(clock_gettime(id, &ts)), id);
    printf("own pid's clock: %s\n", err(clock_gettime(MAKE_PROCESS_CPUCLOCK(getpid(), 2), &ts)));
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    int e = clock_getcpuclockid(child, &id);
    printf("child's clock: %d, gettime: %s\n", e, err(clock_gettime(id, &ts)));
    printf("child's thread clock: %s\n", err(clock_gettime(MAKE_THREAD_CPUCLOCK(child, 2), &ts)));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("reaped child's clock: %s\n", err(clock_gettime(id, &ts)));
    printf("clock_getcpuclockid(nobody): %s\n", strerrorname_np(clock_getcpuclockid(999999, &id)));
    pthread_t thread;
    pthread_create(&thread, NULL, spin, NULL);
    printf("pthread_getcpuclockid: %d", pthread_getcpuclockid(thread, &id));
    printf(", gettime: %s\n", err(clock_gettime(id, &ts)));
    printf("own thread by tid: %s\n", err(clock_gettime(MAKE_THREAD_CPUCLOCK(gettid(), 2), &ts)));
    for (int which = 0; which < 4; which++) {
        printf("type %d: gettime %s", which, err(clock_gettime(MAKE_PROCESS_CPUCLOCK(0, which), &ts)));
        long r = clock_getres(MAKE_PROCESS_CPUCLOCK(0, which), &ts);
        printf(", getres %s %ld.%09ld\n", err(r), r ? 0 : ts.tv_sec, r ? 0 : ts.tv_nsec);
    }
    printf("clock -1: %s; clock 12345: %s\n", err(clock_gettime(-1, &ts)), err(clock_gettime(12345, &ts)));
    clock_getres(CLOCK_THREAD_CPUTIME_ID, &ts);
    printf("THREAD_CPUTIME res: %ld.%09ld\n", ts.tv_sec, ts.tv_nsec);

    struct timespec cpu_nap = {0, 20000000};
    e = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &cpu_nap, NULL);
    printf("clock_nanosleep(PROCESS_CPUTIME, 20 ms): %s\n", e ? strerrorname_np(e) : "ok");
    e = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &cpu_nap, NULL);
    printf("clock_nanosleep(THREAD_CPUTIME): %s\n", e ? strerrorname_np(e) : "ok");
    printf("raw clock_nanosleep(THREAD_CPUTIME): %s\n",
           err(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &cpu_nap, NULL)));
    e = clock_nanosleep(MAKE_THREAD_CPUCLOCK(0, 2), 0, &cpu_nap, NULL);
    printf("clock_nanosleep(own thread clock): %s\n", e ? strerrorname_np(e) : "ok");
    e = clock_nanosleep(CLOCK_MONOTONIC_COARSE, 0, &cpu_nap, NULL);
    printf("clock_nanosleep(MONOTONIC_COARSE): %s\n", e ? strerrorname_np(e) : "ok");
    e = clock_nanosleep(12345, 0, &cpu_nap, NULL);
    printf("clock_nanosleep(12345): %s\n", e ? strerrorname_np(e) : "ok");
    spinning = 0;
    pthread_join(thread, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    huge_sleeps();
    huge_posix_timer();
    huge_itimers();
    cpu_clocks();
    return 0;
}
