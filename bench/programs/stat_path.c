/*
 * stat_path N: stat("/bench/small") N times; prints the nanoseconds per call.
 *
 * Output:  ns_per_call=<float> calls=<N>
 */
#include <sys/stat.h>
#include "bench.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    struct stat st;
    double start = now_ns();
    for (long i = 0; i < n; i++)
        MUST(stat("/bench/small", &st));
    double end = now_ns();
    printf("ns_per_call=%.3f calls=%ld size=%lld\n", (end - start) / (double)n, n, (long long)st.st_size);
    return 0;
}
