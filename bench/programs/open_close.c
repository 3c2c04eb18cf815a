/*
 * open_close N: open("/bench/small", O_RDONLY) and close it, N times; prints the nanoseconds per
 * open+close pair. The file lies in the image, so every open walks the image's file system.
 *
 * Output:  ns_per_call=<float> calls=<N>
 */
#include <fcntl.h>
#include <unistd.h>
#include "bench.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open("/bench/small", O_RDONLY);
        MUST(fd);
        MUST(close(fd));
    }
    double end = now_ns();
    printf("ns_per_call=%.3f calls=%ld\n", (end - start) / (double)n, n);
    return 0;
}
