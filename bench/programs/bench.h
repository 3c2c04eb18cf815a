/* Shared by the benchmark programs: a monotonic clock in nanoseconds and argument checking. */
#ifndef BENCH_H
#define BENCH_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(2);
    }
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The single positive integer argument N, or exit 2 with a usage line. */
static long iterations(int argc, char **argv)
{
    long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0) {
        fprintf(stderr, "usage: %s N (a positive integer)\n", argv[0]);
        exit(2);
    }
    return n;
}

/* Exit 1 with the failing call's name when a check fails: a broken run must not print a figure. */
#define MUST(call) do { if ((call) < 0) { perror(#call); exit(1); } } while (0)
#endif
