/*
 * getppid_loop N: call getppid N times through syscall(2) and print the
 * nanoseconds per call, timed with CLOCK_MONOTONIC around the loop only, so
 * that process start-up and sandbox boot are not part of the figure.
 *
 * Output (one line on stdout):  ns_per_call=<float> calls=<N>
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(2);
    }
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    if (n <= 0) {
        fprintf(stderr, "N must be a positive integer\n");
        return 2;
    }
    volatile long sink = 0;
    double start = now_ns();
    for (long i = 0; i < n; i++)
        sink += syscall(SYS_getppid);
    double end = now_ns();
    printf("ns_per_call=%.3f calls=%ld\n", (end - start) / (double)n, n);
    return 0;
}
