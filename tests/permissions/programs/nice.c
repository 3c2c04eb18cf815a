/* Priorities: raising one's own (CAP_SYS_NICE, RLIMIT_NICE is 0), another user's (EPERM). */
#include "perm.h"
#include <sys/resource.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    setpgid(0, 0); /* natively, the test runner's group is not ours to renice */
    TRY(getpriority(PRIO_PROCESS, 0));
    TRY(setpriority(PRIO_PROCESS, 0, 5));
    TRY(setpriority(PRIO_PROCESS, 0, 2));
    TRY(getpriority(PRIO_PROCESS, 0));
    TRY(setpriority(PRIO_PROCESS, 0, 7));
    TRY(setpriority(PRIO_PROCESS, 0, -3));
    TRY(getpriority(PRIO_PROCESS, 0));
    int ready[2], hold[2];
    pipe(ready);
    pipe(hold);
    pid_t child = fork();
    if (child == 0) {
        setresuid(1001, 1001, 1001);
        write(ready[1], "x", 1);
        char byte;
        read(hold[0], &byte, 1);
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);
    TRY(setpriority(PRIO_PROCESS, child, 10));
    TRY(setpriority(PRIO_PROCESS, child, 0));
    TRY(setpriority(PRIO_PGRP, 0, 12));
    TRY(getpriority(PRIO_PROCESS, 0));
    write(hold[1], "x", 1);
    waitpid(child, NULL, 0);
    return 0;
}
