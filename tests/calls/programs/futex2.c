/* futex2's futex_requeue: a waiter moved from one futex to another and woken there; its errors
 * (flags, reserved field, flags differing between the two, a stale val, bad and unaligned
 * addresses, negative counts). Usage: futex2 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "show.h"

#ifndef SYS_futex_wait
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#define SYS_futex_requeue 456
#endif
#define U32 0x02
#define PRIVATE 128

struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };

static uint32_t f1, f2;

static void *waiter(void *arg)
{
    (void)arg;
    long ret = syscall(SYS_futex_wait, &f1, 0, ~0u, U32 | PRIVATE, NULL, 0);
    show("waiter woke", ret);
    return NULL;
}

static long requeue(struct waitv *w, unsigned flags, int wake, int move)
{
    return syscall(SYS_futex_requeue, w, flags, wake, move);
}

int main(void)
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
    return 0;
}
