/* Clocks and sleeps: monotonic behaviour, resolutions, sleep lengths, and the errors. */
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static int64_t ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }
static int64_t now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return ns(t); }

/* A thread that uses 30 ms of CPU; then one that reads its own CPU clock at once. */
static void *burn(void *used)
{
    volatile double x = 0;
    while (now(CLOCK_THREAD_CPUTIME_ID) < 30000000)
        for (int i = 0; i < 10000; i++) x += i;
    *(int64_t *)used = now(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

static void *fresh(void *used)
{
    *(int64_t *)used = now(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

int main(void) {
    clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW,
                          CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_REALTIME_COARSE,
                          CLOCK_MONOTONIC_COARSE, CLOCK_TAI};
    for (unsigned i = 0; i < sizeof clocks / sizeof *clocks; i++) {
        struct timespec a, b, res;
        int ok = clock_gettime(clocks[i], &a) == 0 && clock_gettime(clocks[i], &b) == 0;
        printf("clock %d: gettime %s, ordered %s", clocks[i], ok ? "ok" : "FAILED", ns(b) >= ns(a) ? "yes" : "no");
        ok = clock_getres(clocks[i], &res) == 0;
        printf(", getres %s, res>0 %s, fine %s\n", ok ? "ok" : "FAILED", ns(res) > 0 ? "yes" : "no",
               ns(res) == 1 ? "yes" : "no");
    }
    struct timespec t;
    ERRNO_OF("bad clock", syscall(SYS_clock_gettime, 12345, &t));
    ERRNO_OF("getres bad clock", syscall(SYS_clock_getres, -5, &t));
    ERRNO_OF("getres NULL", syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL));
    struct timeval tv;
    CHECK("gettimeofday close to time()", gettimeofday(&tv, NULL) == 0 && tv.tv_sec - time(NULL) <= 1);
    CHECK("time(&t) stores", ({ time_t s = 0; time(&s) == s && s > 1600000000; }));
    CHECK("realtime is real", now(CLOCK_REALTIME) / 1000000000LL > 1600000000LL);

    struct timespec req = {0, 50 * 1000 * 1000};
    int64_t before = now(CLOCK_MONOTONIC);
    CHECK("nanosleep 50 ms", nanosleep(&req, NULL) == 0 && now(CLOCK_MONOTONIC) - before >= 50000000);
    before = now(CLOCK_MONOTONIC);
    CHECK("clock_nanosleep relative", clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL) == 0
          && now(CLOCK_MONOTONIC) - before >= 50000000);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 30 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    CHECK("clock_nanosleep absolute", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == 0
          && now(CLOCK_MONOTONIC) >= ns(until));
    struct timespec past = {0, 0};
    CHECK("absolute time in the past returns at once", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL) == 0);
    struct timespec bad = {0, 1000000000};
    ERRNO_OF("nanosleep tv_nsec too big", syscall(SYS_nanosleep, &bad, NULL));
    struct timespec negative = {-1, 0};
    ERRNO_OF("nanosleep negative", syscall(SYS_nanosleep, &negative, NULL));
    printf("clock_nanosleep bad clock: %s\n", strerror(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL)));
    volatile double x = 0;
    for (int i = 0; i < 3000000; i++) x += i;
    CHECK("cpu time advances", now(CLOCK_PROCESS_CPUTIME_ID) > 0 && now(CLOCK_THREAD_CPUTIME_ID) > 0);
    int64_t burnt = 0, started = -1;
    pthread_t thread;
    pthread_create(&thread, NULL, burn, &burnt);
    pthread_join(thread, NULL);
    pthread_create(&thread, NULL, fresh, &started);  /* (the Sentry may give it the first's host thread) */
    pthread_join(thread, NULL);
    CHECK("a thread's clock counts its own time", burnt >= 30000000);
    CHECK("a new thread's clock starts near zero", started >= 0 && started < 10000000);
    return 0;
}
