/*
 * fork_exec_wait N: fork, execve("/bench/true") in the child, waitpid in the parent, N times;
 * prints the microseconds per round.
 *
 * Output:  us_per_call=<float> calls=<N>
 */
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    char *child_argv[] = {"/bench/true", NULL};
    char *child_env[] = {NULL};
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t child = fork();
        MUST(child);
        if (child == 0) {
            execve(child_argv[0], child_argv, child_env);
            _exit(127);
        }
        int status;
        MUST(waitpid(child, &status, 0));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child status %d\n", status);
            return 1;
        }
    }
    double end = now_ns();
    printf("us_per_call=%.3f calls=%ld\n", (end - start) / 1e3 / (double)n, n);
    return 0;
}
