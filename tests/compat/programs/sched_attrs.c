/* Scheduling and process attributes: sched_*, getcpu, membarrier, mlock*, personality,
 * sethostname/setdomainname with uname, unshare/setns, and two calls that once hung (waitid
 * with WSTOPPED alone, unshare(CLONE_VM...) in a multithreaded process).
 * Usage: sched_attrs CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
    uint32_t sched_util_min, sched_util_max;
};
#define SCHED_ATTR_SIZE_VER0 48
#ifndef SCHED_FLAG_KEEP_POLICY
#define SCHED_FLAG_KEEP_POLICY 0x08
#endif
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

static long setsched(pid_t pid, int policy, int prio)
{
    struct sched_param p = { .sched_priority = prio };
    return syscall(SYS_sched_setscheduler, pid, policy, &p);
}

static long getprio(pid_t pid)
{
    struct sched_param p = { .sched_priority = -7 };
    long r = syscall(SYS_sched_getparam, pid, &p);
    return r < 0 ? r : p.sched_priority;
}

static void case_sched(void)
{
    int policies[] = { SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE, 4, 7, -1 };
    for (unsigned i = 0; i < sizeof policies / sizeof *policies; i++) {
        char what[64];
        snprintf(what, sizeof what, "priority range of %d", policies[i]);
        long lo = syscall(SYS_sched_get_priority_min, policies[i]);
        int e = errno;
        long hi = syscall(SYS_sched_get_priority_max, policies[i]);
        errno = e;
        printf("%s: %ld..%ld%s\n", what, lo, hi, lo < 0 ? strerrorname_np(errno) : "");
    }
    show("getscheduler", syscall(SYS_sched_getscheduler, 0));
    show("getscheduler of -1", syscall(SYS_sched_getscheduler, -1));
    show("getscheduler of a missing pid", syscall(SYS_sched_getscheduler, 999999));
    show("getparam", getprio(0));
    show("getparam NULL", syscall(SYS_sched_getparam, 0, NULL));
    show("setscheduler FIFO 10", setsched(0, SCHED_FIFO, 10));
    show("setscheduler RR 0 (invalid)", setsched(0, SCHED_RR, 0));
    show("setscheduler OTHER 5 (invalid)", setsched(0, SCHED_OTHER, 5));
    show("setscheduler FIFO 100 (invalid)", setsched(0, SCHED_FIFO, 100));
    show("setscheduler policy 9", setsched(0, 9, 0));
    show("setscheduler policy -2", setsched(0, -2, 0));
    show("setscheduler NULL param", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL));
    show("setscheduler bad param", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, (void *)8));
    show("setscheduler BATCH", setsched(0, SCHED_BATCH, 0));
    show("getscheduler", syscall(SYS_sched_getscheduler, 0));
    show("setscheduler IDLE", setsched(0, SCHED_IDLE, 0));
    show("getscheduler", syscall(SYS_sched_getscheduler, 0));
    show("setscheduler OTHER|RESET_ON_FORK", setsched(0, SCHED_OTHER | SCHED_RESET_ON_FORK, 0));
    show("getscheduler", syscall(SYS_sched_getscheduler, 0));
    show("setscheduler OTHER (clearing reset-on-fork)", setsched(0, SCHED_OTHER, 0));
    show("setparam 0", ({ struct sched_param p = { 0 }; syscall(SYS_sched_setparam, 0, &p); }));
    show("setparam 3 (OTHER)", ({ struct sched_param p = { 3 }; syscall(SYS_sched_setparam, 0, &p); }));
    struct sched_attr attr;
    memset(&attr, 0, sizeof attr);
    show("getattr", syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0));
    printf("attr: size %u policy %u flags %#llx nice %d prio %u\n", attr.size, attr.sched_policy,
           (unsigned long long)attr.sched_flags, attr.sched_nice, attr.sched_priority);
    show("getattr size 47", syscall(SYS_sched_getattr, 0, &attr, 47, 0));
    show("getattr flags 1", syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 1));
    memset(&attr, 0, sizeof attr);
    attr.size = SCHED_ATTR_SIZE_VER0;
    attr.sched_policy = SCHED_BATCH;
    attr.sched_nice = 5;
    show("setattr BATCH nice 5", syscall(SYS_sched_setattr, 0, &attr, 0));
    show("getpriority", getpriority(PRIO_PROCESS, 0));
    show("getscheduler", syscall(SYS_sched_getscheduler, 0));
    attr.sched_nice = 2;
    show("setattr nice 2 (lower: needs RLIMIT_NICE or CAP_SYS_NICE)", syscall(SYS_sched_setattr, 0, &attr, 0));
    attr.sched_policy = SCHED_DEADLINE;
    attr.sched_nice = 0;
    show("setattr DEADLINE without parameters", syscall(SYS_sched_setattr, 0, &attr, 0));
    attr.sched_runtime = 10000000;
    attr.sched_deadline = 30000000;
    attr.sched_period = 30000000;
    show("setattr DEADLINE", syscall(SYS_sched_setattr, 0, &attr, 0));
    attr.sched_policy = SCHED_OTHER;
    attr.size = 20;
    show("setattr size 20", syscall(SYS_sched_setattr, 0, &attr, 0));
    printf("size written back: %u\n", attr.size);
    attr.size = 0;
    attr.sched_flags = 0x1000;
    show("setattr unknown flag", syscall(SYS_sched_setattr, 0, &attr, 0));
    attr.sched_flags = SCHED_FLAG_KEEP_POLICY;
    attr.sched_nice = 7;
    show("setattr keep policy, nice 7", syscall(SYS_sched_setattr, 0, &attr, 0));
    show("getscheduler", syscall(SYS_sched_getscheduler, 0));
    show("getpriority", getpriority(PRIO_PROCESS, 0));
    struct timespec ts;
    show("rr_get_interval", syscall(SYS_sched_rr_get_interval, 0, &ts));
    show("rr_get_interval of -1", syscall(SYS_sched_rr_get_interval, -1, &ts));
    show("rr_get_interval of a missing pid", syscall(SYS_sched_rr_get_interval, 999999, &ts));
    unsigned cpu = 99, node = 99;
    show("getcpu", syscall(SYS_getcpu, &cpu, &node, NULL));
    printf("cpu valid %d node %u\n", cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF), node);
    show("getcpu NULLs", syscall(SYS_getcpu, NULL, NULL, NULL));
    show("getcpu bad", syscall(SYS_getcpu, (void *)8, NULL, NULL));
    /* A child inherits the policy, unless reset-on-fork. */
    pid_t child = fork();
    if (child == 0) {
        printf("child: policy %ld\n", syscall(SYS_sched_getscheduler, 0));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    show("setscheduler IDLE|RESET_ON_FORK", setsched(0, SCHED_IDLE | SCHED_RESET_ON_FORK, 0));
    child = fork();
    if (child == 0) {
        printf("child after reset-on-fork: policy %ld\n", syscall(SYS_sched_getscheduler, 0));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    show("back to OTHER from IDLE", setsched(0, SCHED_OTHER | SCHED_RESET_ON_FORK, 0));
}

static void case_membarrier(void)
{
    long mask = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    printf("query: %#lx\n", mask);
    show("query with flags", syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 1, 0));
    show("unknown command", syscall(SYS_membarrier, 1 << 12, 0, 0));
    show("global", syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0));
    show("global expedited", syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0));
    show("private expedited unregistered", syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0));
    show("registrations", syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0));
    show("register private expedited", syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0));
    show("private expedited", syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0));
    show("sync core unregistered", syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0));
    show("register global expedited", syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0));
    show("registrations", syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0));
    show("private expedited with flags", syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 1, 0));
}

static void setmemlock(rlim_t limit)
{
    struct rlimit rl;
    getrlimit(RLIMIT_MEMLOCK, &rl);
    rl.rlim_cur = limit;  /* the soft limit alone, below the hard one */
    if (setrlimit(RLIMIT_MEMLOCK, &rl))
        perror("setrlimit");
}

static void case_mlock(void)
{
    long page = 4096;
    char *area = mmap(NULL, 64 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(area + 32 * page, page);  /* a hole */
    setmemlock(16 * page);
    show("mlock 4 pages", mlock(area, 4 * page));
    show("mlock the same again", mlock(area, 4 * page));
    show("mlock 12 more", mlock(area + 4 * page, 12 * page));
    show("mlock one past the limit", mlock(area + 16 * page, page));
    show("munlock 2", munlock(area, 2 * page));
    show("mlock 2 elsewhere", mlock(area + 20 * page, 2 * page - 100));
    show("mlock over the hole", mlock(area + 31 * page, 2 * page));
    show("munlock over the hole", munlock(area + 31 * page, 2 * page));
    show("mlock of length 0", mlock(area, 0));
    show("mlock of SIZE_MAX (the length wraps to 0)", mlock(area, SIZE_MAX));
    show("mlock wrapping past the top", mlock((void *)-4096L, 8192));
    show("mlock2 ONFAULT", syscall(SYS_mlock2, area, page, MLOCK_ONFAULT));
    show("mlock2 bad flag", syscall(SYS_mlock2, area, page, 2));
    show("mlockall 0", mlockall(0));
    show("mlockall ONFAULT", mlockall(MCL_ONFAULT));
    show("mlockall 8", mlockall(8));
    show("mlockall CURRENT over the limit", mlockall(MCL_CURRENT));
    show("mlockall FUTURE", mlockall(MCL_FUTURE));
    show("munlockall", munlockall());
    show("mlock after munlockall", mlock(area, 16 * page));
    munlockall();
    setmemlock(0);
    show("mlock with a limit of 0", mlock(area, page));
    show("mlockall with a limit of 0", mlockall(MCL_CURRENT));
    show("munlock with a limit of 0", munlock(area, page));
    /* The locks belong to the address space: execve starts with none. */
    setmemlock(16 * page);
    show("mlock 16 pages before exec", mlock(area, 16 * page));
    execl("/bin/sched_attrs", "sched_attrs", "mlock-after-exec", (char *)NULL);
}

static void case_mlock_after_exec(void)
{
    long page = 4096;
    char *area = mmap(NULL, 64 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("after exec: mlock 16 pages", mlock(area, 16 * page));
    show("after exec: one more", mlock(area + 16 * page, page));
}

static void case_personality(void)
{
    show("query", personality(0xffffffff));
    show("set ADDR_NO_RANDOMIZE", personality(ADDR_NO_RANDOMIZE));
    show("query", personality(0xffffffff));
    pid_t child = fork();
    if (child == 0) {
        printf("child: %#x\n", personality(0xffffffff));
        execl("/bin/sched_attrs", "sched_attrs", "personality-after-exec", (char *)NULL);
        _exit(99);
    }
    waitpid(child, NULL, 0);
    show("set PER_LINUX32", personality(PER_LINUX32));
    show("set PER_LINUX", personality(PER_LINUX));
}

static void case_uts(void)
{
    struct utsname u;
    /* Never change the host's names: only after unshare(CLONE_NEWUTS) succeeded. */
    long r = unshare(CLONE_NEWUTS);
    show("unshare NEWUTS", r);
    if (r)
        return;
    show("sethostname", sethostname("sandbox-test", 12));
    show("sethostname 65 bytes", sethostname("0123456789012345678901234567890123456789012345678901234567890123456789", 65));
    show("sethostname -1", sethostname("a", -1));
    show("sethostname bad address", sethostname((char *)8, 4));
    show("setdomainname", setdomainname("example.org", 11));
    uname(&u);
    printf("uname: %s %s\n", u.nodename, u.domainname);
    char name[65];
    gethostname(name, sizeof name);
    printf("gethostname: %s\n", name);
    pid_t child = fork();
    if (child == 0) {
        unshare(CLONE_NEWUTS);
        sethostname("child", 5);
        uname(&u);
        printf("child: %s\n", u.nodename);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    uname(&u);
    printf("parent after the child's namespace: %s\n", u.nodename);
    child = fork();
    if (child == 0) {
        sethostname("shared", 6);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    uname(&u);
    printf("parent after a child in the same namespace: %s\n", u.nodename);
}

static void *sleeper(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

static void case_unshare(void)
{
    show("unshare 0", unshare(0));
    show("unshare FILES", unshare(CLONE_FILES));
    show("unshare FS", unshare(CLONE_FS));
    show("unshare SYSVSEM", unshare(CLONE_SYSVSEM));
    show("unshare VM alone in a single thread", unshare(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD));
    show("unshare an unknown flag", unshare(CLONE_VFORK));
    show("unshare NEWNS", unshare(CLONE_NEWNS));
    show("unshare NEWNET", unshare(CLONE_NEWNET));
    show("unshare NEWUSER (chrooted)", unshare(CLONE_NEWUSER));
    show("unshare NEWUTS", unshare(CLONE_NEWUTS));
    show("setns of a pipe", ({ int p[2]; pipe(p); setns(p[0], 0); }));
    show("setns of a closed fd", setns(99, 0));
    pthread_t thread;
    pthread_create(&thread, NULL, sleeper, NULL);
    show("unshare THREAD|VM|SIGHAND with two threads", unshare(CLONE_THREAD | CLONE_VM | CLONE_SIGHAND));
    show("unshare SIGHAND with two threads", unshare(CLONE_SIGHAND));
    show("unshare NEWUSER with two threads", unshare(CLONE_NEWUSER));
    show("unshare FILES with two threads", unshare(CLONE_FILES));
    /* CLONE_FILES: a child sharing our table stops sharing it. */
    int fds[2];
    pipe(fds);
    pid_t child = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) {
        unshare(CLONE_FILES);
        close(fds[0]);
        syscall(SYS_exit, 0);
    }
    waitpid(child, NULL, 0);
    show("our end after the child closed its unshared copy", fcntl(fds[0], F_GETFD));
    child = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) {
        close(fds[1]);
        syscall(SYS_exit, 0);
    }
    waitpid(child, NULL, 0);
    show("our end after a sharing child closed it", fcntl(fds[1], F_GETFD));
    exit(0);
}

static void case_waitid(void)
{
    pid_t child = fork();
    if (child == 0)
        _exit(4);
    siginfo_t info;
    while (waitid(P_PID, child, &info, WEXITED | WNOWAIT)) {}
    show("waitid WSTOPPED of the exited child", waitid(P_ALL, 0, &info, WSTOPPED));
    show("waitid WSTOPPED|WNOHANG", waitid(P_ALL, 0, &info, WSTOPPED | WNOHANG));
    show("waitid WCONTINUED of it", waitid(P_PID, child, &info, WCONTINUED));
    show("wait4 WUNTRACED reaps it", wait4(child, NULL, WUNTRACED, NULL) == child);
    show("waitid WSTOPPED with no children", waitid(P_ALL, 0, &info, WSTOPPED));
}

/* /proc/sys/kernel/hostname is the reader's UTS namespace's (Sentrio only: the native chroot
   has no /proc). */
static void print_proc_hostname(const char *who)
{
    char name[80] = {0};
    FILE *f = fopen("/proc/sys/kernel/hostname", "r");
    if (!f || !fgets(name, sizeof name, f)) {
        printf("%s: no /proc/sys/kernel/hostname\n", who);
        return;
    }
    fclose(f);
    printf("%s reads %s", who, name);
}

static void case_uts_proc(void)
{
    print_proc_hostname("before");
    if (unshare(CLONE_NEWUTS))
        return;
    sethostname("inner", 5);
    print_proc_hostname("after sethostname");
    pid_t child = fork();
    if (child == 0) {
        unshare(CLONE_NEWUTS);
        sethostname("child", 5);
        print_proc_hostname("the child");
        _exit(0);
    }
    waitpid(child, NULL, 0);
    print_proc_hostname("the parent");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "sched")) case_sched();
    else if (!strcmp(c, "membarrier")) case_membarrier();
    else if (!strcmp(c, "mlock")) case_mlock();
    else if (!strcmp(c, "mlock-after-exec")) case_mlock_after_exec();
    else if (!strcmp(c, "personality")) case_personality();
    else if (!strcmp(c, "personality-after-exec")) printf("after exec: %#x\n", personality(0xffffffff));
    else if (!strcmp(c, "uts")) case_uts();
    else if (!strcmp(c, "uts-proc")) case_uts_proc();
    else if (!strcmp(c, "unshare")) case_unshare();
    else if (!strcmp(c, "waitid")) case_waitid();
    else { fprintf(stderr, "unknown case %s\n", c); return 2; }
    return 0;
}
