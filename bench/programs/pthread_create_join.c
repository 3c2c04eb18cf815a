/*
 * pthread_create_join N: create a thread that returns at once and join it, N times; prints the
 * microseconds per pair.
 *
 * Output:  us_per_call=<float> calls=<N>
 */
#include <pthread.h>
#include "bench.h"

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, nothing, NULL) != 0 || pthread_join(thread, NULL) != 0) {
            fprintf(stderr, "pthread_create/join failed\n");
            return 1;
        }
    }
    double end = now_ns();
    printf("us_per_call=%.3f calls=%ld\n", (end - start) / 1e3 / (double)n, n);
    return 0;
}
