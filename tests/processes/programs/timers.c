/* POSIX timers: SIGEV_SIGNAL with a value, periodic expiry, gettime, delete, SIGEV_NONE,
 * SIGEV_THREAD (a helper thread of the C library), and sigwaitinfo on a timer's signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks, value_seen, code_seen;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static int thread_calls;

static void on_tick(int sig, siginfo_t *info, void *uc) {
    ticks++;
    value_seen = info->si_value.sival_int;
    code_seen = info->si_code;
}

static void in_thread(union sigval value) {
    pthread_mutex_lock(&lock);
    thread_calls += value.sival_int;
    pthread_cond_signal(&done);
    pthread_mutex_unlock(&lock);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_tick;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);

    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGRTMIN;
    ev.sigev_value.sival_int = 1234;
    timer_t timer;
    printf("create: %d\n", timer_create(CLOCK_MONOTONIC, &ev, &timer));
    struct itimerspec spec = {{0, 20 * 1000 * 1000}, {0, 20 * 1000 * 1000}};
    printf("settime: %d\n", timer_settime(timer, 0, &spec, NULL));
    while (ticks < 3) pause();
    struct itimerspec now;
    timer_gettime(timer, &now);
    printf("ticks >= 3, value %d, code is SI_TIMER %d, interval %ld ns\n", value_seen, code_seen == SI_TIMER,
           now.it_interval.tv_nsec);
    printf("delete: %d\n", timer_delete(timer));
    int r = timer_gettime(timer, &now);
    printf("gettime after delete: %d %s\n", r, strerror(errno));

    /* absolute expiry, waited for with sigwaitinfo */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    ev.sigev_signo = SIGRTMIN + 1;
    ev.sigev_value.sival_int = 77;
    timer_create(CLOCK_REALTIME, &ev, &timer);
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_nsec += 30 * 1000 * 1000;
    if (at.tv_nsec >= 1000000000) { at.tv_sec++; at.tv_nsec -= 1000000000; }
    struct itimerspec once = {{0, 0}, at};
    timer_settime(timer, TIMER_ABSTIME, &once, NULL);
    siginfo_t info;
    r = sigwaitinfo(&set, &info);
    printf("sigwaitinfo: %d is SIGRTMIN+1, value %d\n", r == SIGRTMIN + 1, info.si_value.sival_int);
    timer_delete(timer);

    /* SIGEV_NONE only counts down */
    ev.sigev_notify = SIGEV_NONE;
    timer_create(CLOCK_MONOTONIC, &ev, &timer);
    struct itimerspec long_one = {{0, 0}, {100, 0}};
    timer_settime(timer, 0, &long_one, NULL);
    timer_gettime(timer, &now);
    printf("SIGEV_NONE counting: %d\n", now.it_value.tv_sec >= 99);
    timer_delete(timer);

    /* SIGEV_THREAD */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = in_thread;
    ev.sigev_value.sival_int = 5;
    printf("create SIGEV_THREAD: %d\n", timer_create(CLOCK_MONOTONIC, &ev, &timer));
    struct itimerspec soon = {{0, 0}, {0, 10 * 1000 * 1000}};
    timer_settime(timer, 0, &soon, NULL);
    pthread_mutex_lock(&lock);
    while (thread_calls == 0) pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    printf("SIGEV_THREAD ran with value %d\n", thread_calls);
    timer_delete(timer);
    return 0;
}
