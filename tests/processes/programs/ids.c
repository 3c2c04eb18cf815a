/* Credentials (emulated in the sandbox), priorities, prctl, rusage and times, affinity. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static void ids(const char *when) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("%s: uid %u/%u/%u gid %u/%u/%u\n", when, r, e, s, gr, ge, gs);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    ids("start");
    gid_t groups[] = {5, 3};
    printf("setgroups: %d, count %d\n", setgroups(2, groups), getgroups(0, NULL));
    gid_t got[4];
    int n = getgroups(4, got);
    printf("groups: %d: %u %u\n", n, got[0], got[1]);

    pid_t child = fork();
    if (child == 0) {
        printf("setresgid: %d\n", setresgid(100, 100, 100));
        printf("setreuid(1000, 1001): %d\n", setreuid(1000, 1001));
        ids("after setreuid");
        int r = setuid(0);
        printf("setuid(0) unprivileged: %d %s\n", r, strerror(errno));
        printf("setuid(1000): %d\n", setuid(1000));
        ids("after setuid");
        r = setgroups(0, NULL);
        printf("setgroups unprivileged: %d %s\n", r, strerror(errno));
        printf("setfsuid returns old: %d\n", (int)syscall(SYS_setfsuid, -1));
        printf("setresuid(-1, 1001, -1): %d\n", setresuid(-1, 1001, -1));
        ids("after setresuid");
        r = setresuid(-1, 2000, -1);
        printf("setresuid to a stranger: %d %s\n", r, strerror(errno));
        printf("setreuid(1001, -1): %d\n", setreuid(1001, -1));
        ids("after setreuid(1001, -1)");
        r = setregid(-1, 7);
        printf("setregid to a stranger: %d %s\n", r, strerror(errno));
        printf("setfsgid(100) returns old: %d, then %d\n", (int)syscall(SYS_setfsgid, 100),
               (int)syscall(SYS_setfsgid, -1));
        r = setfsuid(5);
        printf("setfsuid to a stranger returns old: %d, then %d\n", r, (int)syscall(SYS_setfsuid, -1));
        r = setpriority(PRIO_PROCESS, 0, -5);
        printf("raise priority unprivileged: %d %s\n", r, strerror(errno));
        printf("lower priority: %d, now %d\n", setpriority(PRIO_PROCESS, 0, 10), getpriority(PRIO_PROCESS, 0));
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    ids("parent unchanged");

    printf("priority %d, set -3: %d, now %d\n", getpriority(PRIO_PROCESS, 0), setpriority(PRIO_PROCESS, 0, -3),
           getpriority(PRIO_PROCESS, 0));
    errno = 0;
    int r = getpriority(PRIO_PROCESS, 99999);
    printf("no such process: %d %s\n", r, strerror(errno));

    char name[16];
    prctl(PR_SET_NAME, "renamed-thread-name-too-long");
    prctl(PR_GET_NAME, name);
    printf("name: %s\n", name);
    int value = -1;
    prctl(PR_SET_PDEATHSIG, 9);
    prctl(PR_GET_PDEATHSIG, &value);
    printf("pdeathsig %d, dumpable %d, no_new_privs %d\n", value, prctl(PR_GET_DUMPABLE), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    printf("set no_new_privs: %d, now %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    r = prctl(PR_SET_DUMPABLE, 7);
    printf("bad dumpable: %d %s\n", r, strerror(errno));

    struct rusage usage;
    printf("getrusage self %d, children %d, bad %d\n", getrusage(RUSAGE_SELF, &usage),
           getrusage(RUSAGE_CHILDREN, &usage), getrusage(42, &usage));
    struct tms tms;
    printf("times ok: %d\n", times(&tms) != (clock_t)-1);

    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    printf("setaffinity cpu0: %d\n", sched_setaffinity(0, sizeof set, &set));
    CPU_ZERO(&set);
    r = sched_setaffinity(0, sizeof set, &set);
    printf("setaffinity none: %d %s\n", r, strerror(errno));
    child = fork();
    if (child == 0) {
        int ok = setsid() == getpid() && getsid(0) == getpid() && getpgrp() == getpid();
        int again = setsid();
        printf("setsid in a child: %d; again as leader: %d %s\n", ok, again, strerror(errno));
        _exit(0);
    }
    waitpid(child, &status, 0);
    return 0;
}
