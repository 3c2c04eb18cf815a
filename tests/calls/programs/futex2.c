/* futex2's futex_requeue: a waiter moved from one futex to another and woken there; its errors
 * (flags, reserved field, flags differing between the two, a stale val, bad and unaligned
 * addresses, negative counts). futex_waitv: the index of the futex woken, timeouts on both
 * clocks, EAGAIN for a stale val, its errors. Usage: futex2 requeue|waitv */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "show.h"

#ifndef SYS_futex_wait
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#define SYS_futex_requeue 456
#endif
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define U32 0x02
#define PRIVATE 128

struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };

static uint32_t f1, f2;
static long waiter_result = -2;

static void *waiter(void *arg)
{
    (void)arg;
    waiter_result = syscall(SYS_futex_wait, &f1, 0, ~0u, U32 | PRIVATE, NULL, 0);
    return NULL;
}

static long requeue(struct waitv *w, unsigned flags, int wake, int move)
{
    return syscall(SYS_futex_requeue, w, flags, wake, move);
}

static void requeue_case(void)
{
    struct waitv w[2] = {{0, (uintptr_t)&f1, U32 | PRIVATE, 0}, {0, (uintptr_t)&f2, U32 | PRIVATE, 0}};
    show("nobody waits", requeue(w, 0, 1, 1));
    show("flags", requeue(w, 1, 1, 1));
    w[1].reserved = 1;
    show("reserved", requeue(w, 0, 1, 1));
    w[1].reserved = 0;
    w[1].flags = U32;
    show("flags differ", requeue(w, 0, 1, 1));
    w[1].flags = U32 | PRIVATE | 8;
    show("unknown flag", requeue(w, 0, 1, 1));
    w[1].flags = 1 | PRIVATE;
    show("u16", requeue(w, 0, 1, 1));
    w[1].flags = U32 | PRIVATE;
    w[0].val = 1;
    show("stale val", requeue(w, 0, 1, 1));
    w[0].val = 1ull << 32;
    show("val past 32 bits", requeue(w, 0, 1, 1));
    w[0].val = 0;
    show("negative wake", requeue(w, 0, -1, 1));
    show("negative requeue", requeue(w, 0, 1, -1));
    show("bad waiters", requeue((struct waitv *)8, 0, 1, 1));
    w[0].uaddr = (uintptr_t)&f1 + 1;
    show("unaligned", requeue(w, 0, 1, 1));
    w[0].uaddr = 8;
    show("bad uaddr", requeue(w, 0, 1, 1));
    w[0].uaddr = (uintptr_t)&f1;

    pthread_t thread;
    pthread_create(&thread, NULL, waiter, NULL);
    long moved;
    while ((moved = requeue(w, 0, 0, 1)) == 0)
        usleep(1000);
    show("moved to f2", moved);
    show("a wake of f1 finds nobody", syscall(SYS_futex_wake, &f1, ~0u, 1, U32 | PRIVATE));
    show("a wake of f2 wakes it", syscall(SYS_futex_wake, &f2, ~0u, 1, U32 | PRIVATE));
    pthread_join(thread, NULL);
    show("waiter woke", waiter_result); /* after the join: its own print would race main's */
}

static uint32_t words[3];
static struct waitv many[3];

static long waitv(struct waitv *w, unsigned n, unsigned flags, struct timespec *to, int clock)
{
    return syscall(SYS_futex_waitv, w, n, flags, to, clock);
}

static long many_result = -2;

static void *many_waiter(void *arg)
{
    (void)arg;
    many_result = waitv(many, 3, 0, NULL, 0);
    return NULL;
}

static struct timespec in_ms(int clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    return ts;
}

static void waitv_case(void)
{
    for (int i = 0; i < 3; i++)
        many[i] = (struct waitv){0, (uintptr_t)&words[i], U32 | PRIVATE, 0};
    show("flags", waitv(many, 3, 1, NULL, 0));
    show("none", waitv(many, 0, 0, NULL, 0));
    show("129", waitv(many, 129, 0, NULL, 0));
    show("NULL waiters", waitv(NULL, 1, 0, NULL, 0));
    show("bad waiters", waitv((struct waitv *)8, 1, 0, NULL, 0));
    struct timespec past = {0, 0};
    show("bad clock", waitv(many, 3, 0, &past, CLOCK_BOOTTIME));
    show("bad timeout", waitv(many, 3, 0, (struct timespec *)8, CLOCK_MONOTONIC));
    many[1].reserved = 1;
    show("reserved", waitv(many, 3, 0, &past, CLOCK_MONOTONIC));
    many[1].reserved = 0;
    many[2].val = 1;
    show("stale val", waitv(many, 3, 0, NULL, 0));
    many[2].val = 0;
    show("timeout passed", waitv(many, 3, 0, &past, CLOCK_MONOTONIC));
    struct timespec soon = in_ms(CLOCK_MONOTONIC, 50);
    show("monotonic timeout", waitv(many, 3, 0, &soon, CLOCK_MONOTONIC));
    soon = in_ms(CLOCK_REALTIME, 50);
    show("realtime timeout", waitv(many, 3, 0, &soon, CLOCK_REALTIME));
    pthread_t thread;
    pthread_create(&thread, NULL, many_waiter, NULL);
    while (syscall(SYS_futex_wake, &words[2], ~0u, 1, U32 | PRIVATE) == 0)
        usleep(1000);
    pthread_join(thread, NULL);
    show("waitv woken, index", many_result);
    show("no waiter is left behind", syscall(SYS_futex_wake, &words[0], ~0u, 1, U32 | PRIVATE));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "requeue"))
        requeue_case();
    else if (!strcmp(argv[1], "waitv"))
        waitv_case();
    else
        return 2;
    return 0;
}
