/* Shared by the permission programs: report a call's result as "expression: value" or
 * "expression: -1 ERRNO_NAME", and show a process's ids and capability sets. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef unsigned long long u64;

static void report(const char *what, long value) {
    if (value < 0) {
        const char *name = strerrorname_np(errno);
        printf("%s: -1 %s\n", what, name ? name : "?");
    } else {
        printf("%s: %ld\n", what, value);
    }
}

#define TRY(expr) (errno = 0, report(#expr, (long)(expr)))

static int capget3(pid_t pid, u64 sets[3]) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct data[2];
    int r = syscall(SYS_capget, &header, data);
    for (int i = 0; i < 3 && r == 0; i++) {
        __u32 lo = i == 0 ? data[0].effective : i == 1 ? data[0].permitted : data[0].inheritable;
        __u32 hi = i == 0 ? data[1].effective : i == 1 ? data[1].permitted : data[1].inheritable;
        sets[i] = (u64)hi << 32 | lo;
    }
    return r;
}

static int capset3(u64 effective, u64 permitted, u64 inheritable) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {
        {(__u32)effective, (__u32)permitted, (__u32)inheritable},
        {(__u32)(effective >> 32), (__u32)(permitted >> 32), (__u32)(inheritable >> 32)},
    };
    return syscall(SYS_capset, &header, data);
}

static u64 ambient_set(void) {
    u64 mask = 0;
    for (int cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
        if (r < 0) break;
        if (r) mask |= 1ULL << cap;
    }
    return mask;
}

static u64 bounding_set(void) {
    u64 mask = 0;
    for (int cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0) break;
        if (r) mask |= 1ULL << cap;
    }
    return mask;
}

static void show(const char *label) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    u64 sets[3] = {0, 0, 0};
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    capget3(0, sets);
    printf("%s: uid %u/%u/%u fsuid %d gid %u/%u/%u fsgid %d eff %llx prm %llx inh %llx amb %llx bnd %llx\n",
           label, r, e, s, setfsuid(-1), gr, ge, gs, setfsgid(-1), sets[0], sets[1], sets[2],
           ambient_set(), bounding_set());
}

/* Run fn in a child and wait for it, so each case starts from the parent's credentials. */
static void in_child(const char *label, void (*fn)(void)) {
    printf("-- %s\n", label);
    pid_t child = fork();
    if (child == 0) {
        fn();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) printf("child status %#x\n", status);
}

/* Run a program and wait for it. */
static void run(char *const argv[]) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        execv(argv[0], argv);
        printf("execv %s: -1 %s\n", argv[0], strerrorname_np(errno));
        fflush(stdout);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) printf("%s status %#x\n", argv[0], status);
}
