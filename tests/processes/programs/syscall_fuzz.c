/*
 * syscall_fuzz [FIRST LAST [SEED ROUNDS]]: every system call number from FIRST to LAST (default
 * 0-460) with garbage arguments, each call in a child of its own, so whatever it does (exit,
 * crash, block, change its own memory or signal handling) stays there. A child that is still
 * running after a moment is killed. The arguments are nine fixed patterns, or with SEED, ROUNDS
 * patterns per call drawn from a mix of such values by a generator seeded with SEED (the same
 * seed gives the same calls).
 *
 * The kernel must answer every call with a result or an errno Linux has (1-133): a kernel-
 * internal restart code (512-516) or an errno Linux does not have never reaches a program. Each
 * such result is printed; the last line counts calls, answers and odd answers.
 *
 * Output:  calls=<N> answered=<M> odd=<K>
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESULT_FD 100
#define LAST_ERRNO 133

static void ms_sleep(long ms) {
    struct timespec pause = {0, ms * 1000000L};
    nanosleep(&pause, NULL);
}

/* In the child: quiet stdio, a timer that ends a call that blocks, the call, its result. */
static void call_in_child(long nr, const long *args) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    struct itimerval timer = {.it_value = {.tv_usec = 100000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    long result = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    write(RESULT_FD, &result, sizeof result);
    _exit(0);
}

/* In the parent: wait up to two seconds for the child, then kill it. */
static void reap(pid_t child) {
    for (int waited = 0; waited < 2000; waited += 2) {
        if (waitpid(child, NULL, WNOHANG) == child)
            return;
        ms_sleep(2);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

/* A random argument: a number, an fd, a flag word, or a pointer that is bad in some way. */
static long random_argument(char *garbage) {
    switch (random() % 10) {
    case 0: return 0;
    case 1: return -1;
    case 2: return random() % 16;
    case 3: return -100;  /* AT_FDCWD */
    case 4: return (long)garbage + random() % 4096;
    case 5: return (long)garbage + 4096 - random() % 64;  /* runs off the mapped page */
    case 6: return 0xdead000 + random() % 4096;
    case 7: return (long)random() << 32 | random();
    case 8: return 1L << (random() % 64);
    default: return (long)"/tmp/fuzz";
    }
}

int main(int argc, char **argv) {
    long first = argc > 2 ? atol(argv[1]) : 0, last = argc > 2 ? atol(argv[2]) : 460;
    long rounds = argc > 4 ? atol(argv[4]) : 0;
    if (rounds)
        srandom((unsigned)atol(argv[3]));
    char *garbage = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(garbage, 0xff, 4096);
    const long fixed[][6] = {
        {0, 0, 0, 0, 0, 0},
        {-1, -1, -1, -1, -1, -1},
        {1, 2, 3, 4, 5, 6},
        {0xdead000, 0xdead000, 0xdead000, 0xdead000, 0xdead000, 0xdead000},
        {(long)garbage, (long)garbage, (long)garbage, (long)garbage, (long)garbage, (long)garbage},
        {0, (long)garbage, 4096, 0, -1, 0},
        {0, (long)garbage, 16, (long)garbage, 16, 0},
        {-100, (long)"/tmp/fuzz", (long)garbage, 0x41, 0, 0},
        {(long)"/tmp/fuzz", 0x241, 0644, (long)"/tmp/fuzz2", 0, 0},
    };
    const int npatterns = rounds ? rounds : (int)(sizeof fixed / sizeof fixed[0]);
    long calls = 0, answered = 0, odd = 0;
    for (long nr = first; nr <= last; nr++) {
        for (int p = 0; p < npatterns; p++) {
            long args[6];
            for (int i = 0; i < 6; i++)
                args[i] = rounds ? random_argument(garbage) : fixed[p][i];
            int results[2];
            if (pipe2(results, O_CLOEXEC) < 0 || dup2(results[1], RESULT_FD) < 0) {
                perror("pipe");
                return 1;
            }
            close(results[1]);
            fflush(stdout);
            pid_t child = fork();
            if (child < 0) {
                perror("fork");
                return 1;
            }
            if (child == 0)
                call_in_child(nr, args);
            close(RESULT_FD);
            reap(child);
            calls++;
            long result;
            if (read(results[0], &result, sizeof result) == sizeof result) {
                answered++;
                if (result < 0 && result >= -4095 && -result > LAST_ERRNO) {
                    odd++;
                    printf("call %ld(%lx, %lx, %lx, %lx, %lx, %lx): %ld\n", nr, args[0], args[1], args[2],
                           args[3], args[4], args[5], result);
                }
            }
            close(results[0]);
        }
    }
    printf("calls=%ld answered=%ld odd=%ld\n", calls, answered, odd);
    return 0;
}
