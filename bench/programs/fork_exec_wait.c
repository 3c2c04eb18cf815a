/*
 * fork_exec_wait N: N times fork, exec this program again as a child that exits at once,
 * and wait for it; prints the microseconds per round, timed around the loop only.
 *
 * Output (one line on stdout):  us_per_round=<float> rounds=<N>
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "child") == 0)
        return 0;
    if (argc != 2) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    if (n <= 0) {
        fprintf(stderr, "N must be a positive integer\n");
        return 2;
    }
    char *child_argv[] = {argv[0], "child", NULL};
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            execv(argv[0], child_argv);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child failed (status %#x)\n", status);
            return 1;
        }
    }
    double end = now_ns();
    printf("us_per_round=%.1f rounds=%ld\n", (end - start) / n / 1e3, n);
    return 0;
}
