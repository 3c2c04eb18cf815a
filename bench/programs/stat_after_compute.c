/*
 * stat_after_compute N: N rounds of ~100 µs of arithmetic, each followed by three
 * stat("/bench/small"); prints the nanoseconds a stat costs on average above the arithmetic.
 *
 * A real program computes between its system calls (a compiler between its stats and opens, a
 * shell between commands), and the first call after a computation is the one a runtime pays
 * most for: it has to learn of a stop it was no longer waiting for at once. A loop of calls
 * alone (stat_path) never shows that. The arithmetic is timed alone first and subtracted.
 *
 * Output:  ns_per_call=<float> calls=<3N> compute_ns=<float per round>
 */
#include <sys/stat.h>
#include "bench.h"

/* ~100 µs on a 2020s x86 core; the same count everywhere, so runtimes compare in one run. */
#define COMPUTE_STEPS 75000UL

static volatile unsigned long sink;

static void compute(void)
{
    unsigned long x = sink;
    for (unsigned long i = 0; i < COMPUTE_STEPS; i++)
        x = x * 6364136223846793005UL + i;
    sink = x;
}

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    struct stat st;
    double start = now_ns();
    for (long i = 0; i < n; i++)
        compute();
    double computed = now_ns();
    for (long i = 0; i < n; i++) {
        compute();
        MUST(stat("/bench/small", &st));
        MUST(stat("/bench/small", &st));
        MUST(stat("/bench/small", &st));
    }
    double end = now_ns();
    double compute_ns = (computed - start) / (double)n;
    printf("ns_per_call=%.3f calls=%ld compute_ns=%.1f\n",
           ((end - computed) - (computed - start)) / (double)(3 * n), 3 * n, compute_ns);
    return 0;
}
