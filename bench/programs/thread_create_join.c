/*
 * thread_create_join N: N times create a pthread that returns at once and join it; prints the
 * microseconds per round, timed around the loop only.
 *
 * Output (one line on stdout):  us_per_round=<float> rounds=<N>
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *nothing(void *arg) { return arg; }

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0) { perror("pthread_create"); return 1; }
        pthread_join(t, NULL);
    }
    double end = now_ns();
    printf("us_per_round=%.1f rounds=%ld\n", (end - start) / n / 1e3, n);
    return 0;
}
