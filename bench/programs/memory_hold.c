/*
 * memory_hold N: allocate N MiB, write every page, and hold it for half a second (while the
 * runner measures the whole sandbox's memory from outside), then free it.
 *
 * Output:  held_mib=<N>
 */
#include <unistd.h>
#include "bench.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    size_t size = (size_t)n << 20;
    /* volatile: a compiler may drop memory that is written and freed but never read */
    volatile char *memory = malloc(size);
    if (memory == NULL) {
        perror("malloc");
        return 1;
    }
    for (size_t i = 0; i < size; i += 4096)
        memory[i] = (char)(i >> 12);
    usleep(500000);
    long sum = 0;
    for (size_t i = 0; i < size; i += 4096)
        sum += memory[i];
    printf("held_mib=%ld sum=%ld\n", n, sum);
    free((void *)memory);
    return 0;
}
