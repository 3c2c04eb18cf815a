/* Children that exit at once and are not waited for stay zombies, and zombies count against the
 * pid limit (as in a pids cgroup) until they are reaped. Forks until fork fails, reaps every
 * child, and forks once more. */
#include "perm.h"

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int zombies = 0;
    for (;;) {
        pid_t child = fork();
        if (child == 0)
            _exit(0);
        if (child < 0) {
            printf("fork failed with %s after %d zombies\n", errno == EAGAIN ? "EAGAIN" : strerror(errno), zombies);
            break;
        }
        siginfo_t info;
        waitid(P_PID, child, &info, WEXITED | WNOWAIT);  /* it has exited; it stays a zombie */
        zombies++;
    }
    int reaped = 0;
    while (waitpid(-1, NULL, 0) > 0)
        reaped++;
    pid_t again = fork();
    if (again == 0)
        _exit(0);
    printf("reaped %d; a fork after: %s\n", reaped, again > 0 ? "ok" : strerror(errno));
    return again > 0 ? 0 : 1;
}
