/* futex(2) directly: EAGAIN, timeouts, wake counts, requeue, wake-op, bitsets, shared futexes
 * across fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* <linux/futex.h>, spelled out: musl-gcc has no kernel headers. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_BITSET_PRIVATE (FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP(op, oparg, cmp, cmparg) \
    (((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts, uint32_t *addr2, uint32_t val3) {
    return syscall(SYS_futex, addr, op, val, ts, addr2, val3);
}

static uint32_t word, word2;
static volatile int ready;

static void *waiter(void *arg) {
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    (void)r;
    return NULL;
}

static void *bit_waiter(void *arg) {
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, (uint32_t)(long)arg);
    return NULL;
}

/* Until n threads sleep on word: a requeue of a futex onto itself counts its waiters. */
static void settle(int n) {
    while (ready < n) usleep(1000);
    while (futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)0x7fffffffL, &word, word) < n) usleep(1000);
}

int main(void) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    word = 1;
    long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    printf("wait on changed word: %ld %s\n", r, strerror(errno));
    r = futex(&word, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
    printf("relative timeout: %ld %s\n", r, strerror(errno));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 10 * 1000 * 1000;
    if (now.tv_nsec >= 1000000000) { now.tv_sec++; now.tv_nsec -= 1000000000; }
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 1, &now, NULL, FUTEX_BITSET_MATCH_ANY);
    printf("absolute realtime timeout: %ld %s\n", r, strerror(errno));
    r = futex(&word, FUTEX_WAKE_PRIVATE, 5, NULL, NULL, 0);
    printf("wake nobody: %ld\n", r);
    r = futex((uint32_t *)((char *)&word + 1), FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    printf("unaligned: %ld %s\n", r, strerror(errno));
    r = futex(&word, 99, 0, NULL, NULL, 0);
    printf("bad op: %ld %s\n", r, strerror(errno));
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, 0);
    printf("zero bitset: %ld %s\n", r, strerror(errno));

    word = 0;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, waiter, NULL);
    settle(4);
    printf("wake 1 of 4: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    r = futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)1L, &word2, 5);
    printf("cmp_requeue bad value: %ld %s\n", r, strerror(errno));
    printf("cmp_requeue 1 woken + 1 moved: %ld\n",
           futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &word2, 0));
    printf("wake on old word: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    printf("wake on requeue target: %ld\n", futex(&word2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);

    ready = 0;
    pthread_create(&t[0], NULL, bit_waiter, (void *)1L);
    pthread_create(&t[1], NULL, bit_waiter, (void *)2L);
    settle(2);
    printf("wake bitset 2: %ld\n", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 2));
    printf("wake bitset 4: %ld\n", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 4));
    printf("wake bitset any: %ld\n", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, FUTEX_BITSET_MATCH_ANY));
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);

    ready = 0;
    word2 = 5;
    pthread_create(&t[0], NULL, waiter, NULL);
    settle(1);
    /* word2 += 1; wake 1 on word; and 1 on word2 if old word2 > 4. */
    int op = FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 4);
    r = futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &word2, op);
    printf("wake_op: %ld, word2 now %u\n", r, word2);
    pthread_join(t[0], NULL);

    /* A shared futex: the child waits on a MAP_SHARED word, the parent wakes it. */
    uint32_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared[0] = 0;
    shared[1] = 0;
    pid_t child = fork();
    if (child == 0) {
        __atomic_store_n(&shared[1], 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&shared[0], __ATOMIC_SEQ_CST) == 0)
            futex(&shared[0], FUTEX_WAIT, 0, NULL, NULL, 0);
        _exit(shared[0] == 1 ? 0 : 1);
    }
    while (!__atomic_load_n(&shared[1], __ATOMIC_SEQ_CST)) usleep(1000);
    while (futex(&shared[0], FUTEX_CMP_REQUEUE, 0, (void *)0x7fffffffL, &shared[0], 0) < 1) usleep(1000);
    __atomic_store_n(&shared[0], 1, __ATOMIC_SEQ_CST);
    long woken = futex(&shared[0], FUTEX_WAKE, 1, NULL, NULL, 0);
    int status;
    waitpid(child, &status, 0);
    printf("shared futex across fork: woke %ld, child status %d\n", woken, WEXITSTATUS(status));
    return 0;
}
