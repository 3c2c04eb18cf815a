/* A fork bomb: every process forks until fork fails; the first failure must be EAGAIN.
 * Children block on a pipe-less pause until the root tells them to go by exiting. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/resource.h>

int main(int argc, char **argv) {
    int made = 0;
    if (argc > 1) {  /* as a user with RLIMIT_NPROC 20 instead of the sandbox's pid limit */
        struct rlimit limit = {20, 20};
        setrlimit(RLIMIT_NPROC, &limit);
        if (setuid(1000) != 0) { perror("setuid"); return 1; }
    }
    for (;;) {
        pid_t child = fork();
        if (child < 0) {
            printf("fork failed with %s after %s\n", errno == EAGAIN ? "EAGAIN" : strerror(errno),
                   made > 10 ? "more than 10 children" : "too few children");
            break;
        }
        if (child == 0) {
            for (;;) sleep(100);
        }
        made++;
    }
    fflush(stdout);
    exit(0);  /* pid 1's end takes every child with it */
}
