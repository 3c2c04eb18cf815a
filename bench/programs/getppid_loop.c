/*
 * getppid_loop N: call getppid N times through syscall(2) and print the
 * nanoseconds per call, timed with CLOCK_MONOTONIC around the loop only, so
 * that process start-up and sandbox boot are not part of the figure.
 *
 * Output (one line on stdout):  ns_per_call=<float> calls=<N>
 */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <unistd.h>
#include "bench.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    volatile long sink = 0;
    double start = now_ns();
    for (long i = 0; i < n; i++)
        sink += syscall(SYS_getppid);
    double end = now_ns();
    printf("ns_per_call=%.3f calls=%ld\n", (end - start) / (double)n, n);
    return 0;
}
