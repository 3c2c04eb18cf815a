/*
 * Divergences from Linux that `python -m kernel fuzz --native` found, one line each: the order
 * in which Linux checks a call's arguments decides which errno a bad call gets, and some calls
 * change state before they fail (mprotect up to a hole, a write up to an unwritable page).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

static void report(const char *what, long result) {
    if (result == -1)
        printf("%-64s -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%-64s %s\n", what, result ? "nonzero" : "0");
}

#define TRY(call) report(#call, (long)(call))

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* a page of memory between two PROT_NONE fences */
    char *area = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(area, PAGE, PROT_NONE);
    mprotect(area + 2 * PAGE, PAGE, PROT_NONE);
    char *page = area + PAGE, *edge = page + PAGE - 16;

    /* timers and clocks: the sigevent is read first, clocks without timers or sleeps */
    timer_t timer;
    TRY(syscall(SYS_timer_create, -2, edge + 8, &timer));
    TRY(syscall(SYS_timer_create, CLOCK_MONOTONIC_COARSE, NULL, &timer));
    TRY(syscall(SYS_timer_create, CLOCK_MONOTONIC_RAW, NULL, &timer));
    TRY(syscall(SYS_timer_settime, 0x41, 0, edge + 8, NULL));
    TRY(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, page, NULL));
    TRY(syscall(SYS_clock_nanosleep, -2, 0, (void *)0xffff800000001000ul, NULL));
    TRY(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, page, NULL));
    struct rlimit no_signals = {0, 0}, old;
    getrlimit(RLIMIT_SIGPENDING, &old);
    setrlimit(RLIMIT_SIGPENDING, &no_signals);
    TRY(syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &timer));
    setrlimit(RLIMIT_SIGPENDING, &old);
    struct timespec now;
    clock_gettime((~(clockid_t)0 << 3) | 1, &now);  /* this process's VIRT clock: whole ticks */
    printf("VIRT clock in whole ticks: %d\n", now.tv_nsec % 1000000 == 0);

    /* waitid writes its siginfo whatever the answer, and EFAULT wins */
    TRY(syscall(SYS_waitid, 5, 0, (void *)0xffff800000001000ul, 0, NULL));
    TRY(syscall(SYS_waitid, P_ALL, 0, edge + 8, WEXITED | WNOHANG, NULL));
    memset(page, 0x55, 32);
    TRY(syscall(SYS_waitid, P_ALL, 0, page, WEXITED, NULL));
    printf("siginfo written on ECHILD: signo %d, padding kept %d\n", *(int *)page, page[12] == 0x55);
    TRY(syscall(SYS_waitid, 3, getpid(), page, WEXITED, NULL));
    TRY(syscall(SYS_wait4, getpid(), NULL, 0x80000000, NULL));

    /* memory: the order of mmap's checks, anonymous types, mprotect's bits and holes */
    TRY(mmap(page + PAGE - 1, 1ul << 47, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
    TRY(mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    TRY(mmap(NULL, PAGE, PROT_READ, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    TRY(mmap(NULL, PAGE, PROT_READ, MAP_SHARED | MAP_GROWSDOWN | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    TRY(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (31 << 26), -1, 0) == MAP_FAILED);
    TRY(syscall(SYS_mmap, NULL, PAGE, PROT_READ, 0x8000000000000022ul, -1, 0) < 0);
    TRY(mprotect(NULL, 0x3ff, PROT_READ | PROT_EXEC | 0x8));
    TRY(mprotect((void *)0xffff800000001000ul, -PAGE - 1, (unsigned long)-100));
    TRY(mprotect(page, PAGE, PROT_READ | PROT_GROWSUP));
    TRY(mprotect(page, PAGE, PROT_READ | PROT_GROWSDOWN));
    TRY(syscall(SYS_mprotect, page, PAGE, 1ul << 63));
    char *gap = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gap + PAGE, PAGE);  /* gap: mapped, hole, mapped */
    TRY(mprotect(gap, 3 * PAGE, PROT_READ));
    pid_t child = fork();
    if (child == 0) {
        gap[0] = 1;  /* read-only now, if mprotect changed what lies before the hole */
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("mprotect changed what lies before the hole: %d\n", WIFSIGNALED(status));
    TRY(munmap((void *)0x7fffffffe000ul - 0x100000000ul, 0x100));
    TRY(madvise(page + 0x40, PAGE, 100));
    TRY(madvise(page, PAGE, 100));
    TRY(mremap((void *)0xffff010000000000ul, 0x10000, 0x1001, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0xffff800000000000ul) == MAP_FAILED);
    unsigned char vec[4];
    TRY(mincore(gap, 3 * PAGE, NULL));
    TRY(mincore(page, 16 * PAGE, vec));

    /* a write that runs off its page writes what fits first */
    memset(page, 0, PAGE);
    TRY(uname((struct utsname *)(page + PAGE - 8)));
    printf("uname wrote up to the fence: %.8s\n", page + PAGE - 8);

    /* RLIMIT_AS */
    struct rlimit small = {64ul << 20, RLIM_INFINITY};
    getrlimit(RLIMIT_AS, &old);
    small.rlim_max = old.rlim_max;
    setrlimit(RLIMIT_AS, &small);
    TRY(mmap(NULL, 128ul << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED);
    TRY(mmap(NULL, 128ul << 20, PROT_NONE, MAP_PRIVATE | 0x8 | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    setrlimit(RLIMIT_AS, &old);
    return 0;
}
