/*
 * Resource limits as an unprivileged process sets them: RLIMIT_NOFILE above nr_open (2^20) or
 * RLIM_INFINITY is EPERM, raising a hard limit without CAP_SYS_RESOURCE is EPERM, a soft limit
 * above the hard one is EINVAL, lowering always works.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void set(const char *what, int resource, rlim_t soft, rlim_t hard) {
    struct rlimit limit = {soft, hard};
    int result = setrlimit(resource, &limit);
    printf("%-36s %s\n", what, result ? strerrorname_np(errno) : "ok");
}

static void show(const char *what) {
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    printf("%-36s %lu %lu\n", what, (unsigned long)limit.rlim_cur, (unsigned long)limit.rlim_max);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit start;
    getrlimit(RLIMIT_NOFILE, &start);
    set("NOFILE 2^20 (raises the hard limit)", RLIMIT_NOFILE, 1 << 20, 1 << 20);
    set("NOFILE 2^20+1", RLIMIT_NOFILE, (1 << 20) + 1, (1 << 20) + 1);
    set("NOFILE infinity", RLIMIT_NOFILE, RLIM_INFINITY, RLIM_INFINITY);
    set("NOFILE soft above hard", RLIMIT_NOFILE, 100, 50);
    set("NOFILE lowered", RLIMIT_NOFILE, 100, 200);
    show("NOFILE now");
    set("NOFILE soft raised to hard", RLIMIT_NOFILE, 200, 200);
    set("NOFILE hard raised", RLIMIT_NOFILE, 200, 300);
    show("NOFILE now");
    set("STACK infinity (above hard?)", RLIMIT_STACK, RLIM_INFINITY, RLIM_INFINITY);
    set("resource 99", 99, 1, 1);
    struct rlimit64 old, lower = {50, 150};
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    printf("prlimit(child, NOFILE lowered): %s\n",
           prlimit64(child, RLIMIT_NOFILE, &lower, &old) ? strerrorname_np(errno) : "ok");
    printf("child's old limit: %lu %lu\n", (unsigned long)old.rlim_cur, (unsigned long)old.rlim_max);
    printf("prlimit(child) again: %s", prlimit64(child, RLIMIT_NOFILE, NULL, &old) ? strerrorname_np(errno) : "ok");
    printf(" %lu %lu\n", (unsigned long)old.rlim_cur, (unsigned long)old.rlim_max);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("prlimit(no such process): %s\n", prlimit64(999999, RLIMIT_NOFILE, NULL, &old) ? strerrorname_np(errno) : "ok");
    printf("prlimit(bad new pointer): %s\n",
           prlimit64(0, RLIMIT_NOFILE, (void *)16, &old) ? strerrorname_np(errno) : "ok");
    return 0;
}
