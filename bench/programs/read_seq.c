/*
 * read_seq N: read the 64 MiB image file /bench/big from start to end N times with 1 MiB reads;
 * prints the throughput in MiB/s. The first pass also warms whatever cache the runtime keeps,
 * as a second run of a real program would find it.
 *
 * Output:  mib_per_s=<float> passes=<N>
 */
#include <fcntl.h>
#include <unistd.h>
#include "bench.h"

#define CHUNK (1 << 20)

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    static char buffer[CHUNK];
    long long total = 0;
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open("/bench/big", O_RDONLY);
        MUST(fd);
        ssize_t got;
        while ((got = read(fd, buffer, CHUNK)) > 0)
            total += got;
        MUST(got);
        MUST(close(fd));
    }
    double end = now_ns();
    if (total != (long long)n * (64 << 20)) {
        fprintf(stderr, "read %lld bytes, expected %lld\n", total, (long long)n * (64 << 20));
        return 1;
    }
    printf("mib_per_s=%.1f passes=%ld\n", (double)total / (1 << 20) / ((end - start) / 1e9), n);
    return 0;
}
