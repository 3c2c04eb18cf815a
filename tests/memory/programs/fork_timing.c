/*
 * fork_timing MIB [ROUNDS]: hold MIB MiB of written private memory, then fork a child that
 * exits at once and wait for it, ROUNDS times. Prints the mean fork+exit+wait time in ms.
 * A measuring tool, run by hand (docs/architecture.md's memory section); no test runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t size = (size_t)(argc > 1 ? atol(argv[1]) : 1) << 20;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    char *memory = malloc(size);
    memset(memory, 1, size);
    double start = now();
    for (int i = 0; i < rounds; i++) {
        pid_t child = fork();
        if (child == 0)
            _exit(0);
        waitpid(child, NULL, 0);
        memory[(size_t)i * 4096 % size] = 2;  /* the parent writes between forks, as real ones do */
    }
    printf("%zu MiB: %.2f ms per fork+exit+wait\n", size >> 20, (now() - start) * 1000 / rounds);
    return 0;
}
