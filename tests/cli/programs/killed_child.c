/* A parent whose child the host kills: the parent reports the child's wait status, then shows
 * that it can still fork. The child says "child ready" and waits for ever in pause(). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *who, int status) {
    if (WIFSIGNALED(status))
        printf("%s: killed by signal %d\n", who, WTERMSIG(status));
    else
        printf("%s: exited %d\n", who, WEXITSTATUS(status));
}

int main(void) {
    int status;
    pid_t child = fork();
    if (child == 0) {
        printf("child ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    waitpid(child, &status, 0);
    report("child", status);
    pid_t next = fork();
    if (next == 0)
        _exit(7);
    waitpid(next, &status, 0);
    report("next child", status);
    return 0;
}
