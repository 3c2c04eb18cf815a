/* Guest seccomp: filters installed with seccomp(2) and prctl, their actions, stacking,
 * inheritance across fork and exec, TSYNC, the program checker and strict mode.
 * Usage: seccomp_filters CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

#define NR_OFF offsetof(struct seccomp_data, nr)
#define ARCH_OFF offsetof(struct seccomp_data, arch)
#define ARG0_LO offsetof(struct seccomp_data, args[0])
#define ARG0_HI (offsetof(struct seccomp_data, args[0]) + 4)

static long sys_seccomp(unsigned op, unsigned flags, void *args) { return syscall(SYS_seccomp, op, flags, args); }

static long install(struct sock_filter *code, unsigned short len, unsigned flags)
{
    struct sock_fprog prog = { len, code };
    return sys_seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* One call number gets `action`, every other call is allowed. */
static long install_one(int nr, unsigned action, unsigned flags)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    return install(code, 4, flags);
}

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

static void nnp(void) { if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) perror("no_new_privs"); }

static void case_errno(void)
{
    nnp();
    show("mode before", prctl(PR_GET_SECCOMP));
    show("install errno(EXDEV) for uname", install_one(SYS_uname, SECCOMP_RET_ERRNO | EXDEV, 0));
    show("mode after", prctl(PR_GET_SECCOMP));
    struct utsname u;
    show("uname", syscall(SYS_uname, &u));
    show("getpid still works", syscall(SYS_getpid) > 0);
    show("install errno(5000) for getuid", install_one(SYS_getuid, SECCOMP_RET_ERRNO | 5000, 0));
    errno = 0;
    long r = syscall(SYS_getuid);
    printf("getuid: %ld errno %d\n", r, errno);
    int fd = dup(1);
    show("install errno(0) for close", install_one(SYS_close, SECCOMP_RET_ERRNO | 0, 0));
    show("close (errno 0: not run, returns 0)", syscall(SYS_close, fd));
    show("the fd is still open", fcntl(fd, F_GETFD) >= 0);
    show("uname again", syscall(SYS_uname, &u));
}

static volatile int trapped_nr, trapped_arch, trapped_code, trapped_errno, trapped_addr_ok;
static volatile long trapped_rax;

static void on_sigsys(int sig, siginfo_t *info, void *uc_)
{
    ucontext_t *uc = uc_;
    trapped_nr = info->si_syscall;
    trapped_arch = info->si_arch;
    trapped_code = info->si_code;
    trapped_errno = info->si_errno;
    const unsigned char *after = info->si_call_addr;
    trapped_addr_ok = after[-2] == 0x0f && after[-1] == 0x05
                      && (unsigned long)after == (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
    trapped_rax = uc->uc_mcontext.gregs[REG_RAX];
}

static void case_trap(void)
{
    nnp();
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigaction(SIGSYS, &sa, NULL);
    show("install trap(77) for getppid", install_one(SYS_getppid, SECCOMP_RET_TRAP | 77, 0));
    long r = syscall(SYS_getppid);
    printf("getppid returned %ld (its own number: %d)\n", r, r == SYS_getppid);
    printf("si_code %d si_errno %d si_syscall %d si_arch %#x addr ok %d rax %ld\n", trapped_code, trapped_errno,
           trapped_nr, trapped_arch, trapped_addr_ok, trapped_rax);
    /* Blocked, a trap's SIGSYS cannot be refused: the process dies of it. */
    pid_t child = fork();
    if (child == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGSYS);
        sigprocmask(SIG_BLOCK, &set, NULL);
        syscall(SYS_getppid);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("blocked SIGSYS: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
}

static void *spin_then_call(void *arg)
{
    (void)arg;
    usleep(100000);
    syscall(SYS_getppid);  /* KILL_THREAD: only this thread ends */
    printf("thread survived?\n");
    return NULL;
}

static void case_kill(void)
{
    nnp();
    int status;
    pid_t child = fork();
    if (child == 0) {
        install_one(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0);
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
        sigaction(SIGSYS, &sa, NULL);  /* a handler does not stop a kill */
        syscall(SYS_getppid);
        _exit(0);
    }
    waitpid(child, &status, 0);
    printf("kill process: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
    child = fork();
    if (child == 0) {
        install_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
        pthread_t thread;
        pthread_create(&thread, NULL, spin_then_call, NULL);
        sleep(1);
        printf("main thread still here\n");
        fflush(stdout);
        syscall(SYS_exit_group, 7);
    }
    waitpid(child, &status, 0);
    printf("kill thread of two: exited %d code %d\n", WIFEXITED(status), WEXITSTATUS(status));
    child = fork();
    if (child == 0) {
        install_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
        syscall(SYS_getppid);
        _exit(0);
    }
    waitpid(child, &status, 0);
    printf("kill the only thread: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
}

static void case_inherit(const char *self)
{
    nnp();
    show("install errno(ENOKEY) for uname", install_one(SYS_uname, SECCOMP_RET_ERRNO | ENOKEY, 0));
    struct utsname u;
    pid_t child = fork();
    if (child == 0) {
        show("child uname", syscall(SYS_uname, &u));
        execl(self, self, "after-exec", (char *)NULL);
        _exit(99);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
}

static void case_after_exec(void)
{
    struct utsname u;
    show("after exec: mode", prctl(PR_GET_SECCOMP));
    show("after exec: uname", syscall(SYS_uname, &u));
    exit(3);
}

static int go;
static pid_t worker_tid;
static void *worker(void *arg)
{
    worker_tid = syscall(SYS_gettid);
    if (arg)
        install_one(SYS_getuid, SECCOMP_RET_ERRNO | EIO, 0);
    __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&go, __ATOMIC_SEQ_CST) != 2)
        usleep(1000);
    struct utsname u;
    show("worker uname", syscall(SYS_uname, &u));
    show("worker mode", prctl(PR_GET_SECCOMP));
    return NULL;
}

static void case_tsync(void)
{
    nnp();
    pthread_t thread;
    struct utsname u;
    /* Without TSYNC the filter is the caller's alone. */
    pthread_create(&thread, NULL, worker, NULL);
    while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
        usleep(1000);
    pid_t child = fork();
    if (child == 0) {
        /* In a child of one thread: a filter without TSYNC, then check nothing else changed. */
        show("child install", install_one(SYS_uname, SECCOMP_RET_ERRNO | EPERM, 0));
        show("child uname", syscall(SYS_uname, &u));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    show("tsync install errno(EROFS) for uname", install_one(SYS_uname, SECCOMP_RET_ERRNO | EROFS,
                                                              SECCOMP_FILTER_FLAG_TSYNC));
    __atomic_store_n(&go, 2, __ATOMIC_SEQ_CST);
    pthread_join(thread, NULL);
    show("main uname", syscall(SYS_uname, &u));

    /* A sibling with a filter of its own cannot be synchronised: TSYNC names it. */
    go = 0;
    pthread_create(&thread, NULL, worker, (void *)1);
    while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
        usleep(1000);
    long r = install_one(SYS_getgid, SECCOMP_RET_ERRNO | EIO, SECCOMP_FILTER_FLAG_TSYNC);
    printf("tsync refused, names the worker: %d\n", r == worker_tid);
    show("tsync with TSYNC_ESRCH", install_one(SYS_getgid, SECCOMP_RET_ERRNO | EIO,
                                               SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH));
    show("getgid unfiltered", syscall(SYS_getgid) >= 0);
    __atomic_store_n(&go, 2, __ATOMIC_SEQ_CST);
    pthread_join(thread, NULL);
}

static void try_program(const char *what, struct sock_filter *code, unsigned short len)
{
    show(what, install(code, len, 0));
}

static void case_invalid(void)
{
    nnp();
    struct sock_filter ret_allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_filter big[4097];
    for (int i = 0; i < 4097; i++)
        big[i] = ret_allow;
    try_program("empty", big, 0);
    try_program("4097 instructions", big, 4097);
    struct sock_filter byte_load[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ret_allow };
    try_program("byte load", byte_load, 2);
    struct sock_filter misaligned[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), ret_allow };
    try_program("misaligned load", misaligned, 2);
    struct sock_filter outside[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), ret_allow };
    try_program("load past seccomp_data", outside, 2);
    struct sock_filter jump_out[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret_allow };
    try_program("jump past the end", jump_out, 2);
    struct sock_filter ja_out[] = { BPF_STMT(BPF_JMP | BPF_JA, 1), ret_allow };
    try_program("ja past the end", ja_out, 2);
    struct sock_filter no_ret[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0) };
    try_program("no return at the end", no_ret, 1);
    struct sock_filter unset_mem[] = { BPF_STMT(BPF_LD | BPF_MEM, 3), ret_allow };
    try_program("memory read before write", unset_mem, 2);
    struct sock_filter half_set_mem[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
        BPF_STMT(BPF_ST, 2),
        BPF_STMT(BPF_LDX | BPF_MEM, 2),
        ret_allow,
    };
    try_program("memory written on one path only", half_set_mem, 5);
    struct sock_filter mem_ok[] = {
        BPF_STMT(BPF_LD | BPF_IMM, 5), BPF_STMT(BPF_ST, 15), BPF_STMT(BPF_LDX | BPF_MEM, 15), ret_allow,
    };
    try_program("memory written then read", mem_ok, 4);
    struct sock_filter mem16[] = { BPF_STMT(BPF_ST, 16), ret_allow };
    try_program("memory word 16", mem16, 2);
    struct sock_filter div0[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ret_allow };
    try_program("divide by constant 0", div0, 2);
    struct sock_filter mod[] = { BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), ret_allow };
    try_program("mod", mod, 2);
    struct sock_filter shift[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), ret_allow };
    try_program("shift by 32", shift, 2);
    struct sock_filter len_ok[] = { BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
                                    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 64, 1, 0),
                                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 9), ret_allow };
    try_program("BPF_LEN is 64", len_ok, 4);
    struct sock_filter bad_code[] = { { 0xffff, 0, 0, 0 }, ret_allow };
    try_program("unknown opcode", bad_code, 2);
    struct sock_fprog prog = { 1, (struct sock_filter *)8 };
    show("program at a bad address", sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog));
    show("fprog at a bad address", sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, (void *)8));
    show("unknown flag", install(&ret_allow, 1, 1u << 30));
    show("unknown operation", sys_seccomp(77, 0, NULL));
    show("strict with flags", sys_seccomp(SECCOMP_SET_MODE_STRICT, 1, NULL));
    show("prctl set mode 3", prctl(PR_SET_SECCOMP, 3, 0, 0, 0));
    unsigned actions[] = { SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
                           SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, 0x00010000, 0x7ff10000 };
    for (unsigned i = 0; i < sizeof actions / sizeof *actions; i++) {
        char what[64];
        snprintf(what, sizeof what, "action %#x available", actions[i]);
        show(what, sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]));
    }
    show("action avail with flags", sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 1, &actions[0]));
    show("action avail at a bad address", sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, (void *)8));
    /* After a filter, strict mode is refused, and so is a filter from prctl with a bad program. */
    show("a valid filter", install(&ret_allow, 1, 0));
    show("strict after a filter", prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0));
    struct sock_fprog via_prctl = { 1, &ret_allow };
    show("a filter through prctl", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &via_prctl, 0, 0));
    show("mode", prctl(PR_GET_SECCOMP));
}

static void case_privs(void)
{
    struct sock_filter ret_allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    show("without no_new_privs", install(&ret_allow, 1, 0));
    struct sock_fprog via_prctl = { 1, &ret_allow };
    show("prctl without no_new_privs", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &via_prctl, 0, 0));
    show("bad program without no_new_privs (length checked first)", install(&ret_allow, 0, 0));
    show("strict needs nothing, in a child", 0);
    nnp();
    show("with no_new_privs", install(&ret_allow, 1, 0));
}

static void case_strict(void)
{
    pid_t child = fork();
    if (child == 0) {
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
            _exit(1);
        const char msg[] = "strict: write works\n";
        syscall(SYS_write, 1, msg, sizeof msg - 1);
        syscall(SYS_getpid);  /* SIGKILL */
        syscall(SYS_exit, 5);
    }
    int status;
    waitpid(child, &status, 0);
    printf("strict getpid: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
    child = fork();
    if (child == 0) {
        if (sys_seccomp(SECCOMP_SET_MODE_STRICT, 0, NULL))
            _exit(1);
        syscall(SYS_exit, 6);  /* exit is allowed, exit_group is not */
    }
    waitpid(child, &status, 0);
    printf("strict exit: exited %d code %d\n", WIFEXITED(status), WEXITSTATUS(status));
}

/* Several filters: the action of lowest value wins; among equals, the newest filter's data. */
static void case_precedence(void)
{
    nnp();
    struct utsname u;
    install_one(SYS_uname, SECCOMP_RET_ERRNO | EPERM, 0);
    install_one(SYS_uname, SECCOMP_RET_LOG, 0);
    install_one(SYS_uname, SECCOMP_RET_ERRNO | EBUSY, 0);
    show("errno over log, newest errno", syscall(SYS_uname, &u));
    install_one(SYS_getuid, SECCOMP_RET_TRACE | 3, 0);
    show("trace without a tracer", syscall(SYS_getuid));
    install_one(SYS_getgid, SECCOMP_RET_USER_NOTIF, 0);
    show("user notification without a listener", syscall(SYS_getgid));
    install_one(SYS_getuid, SECCOMP_RET_ERRNO | EAGAIN, 0);
    show("errno over trace", syscall(SYS_getuid));
    install_one(SYS_geteuid, 0x7ff80000, 0);  /* between TRACE and LOG: not an action Linux knows */
    pid_t child = fork();
    if (child == 0) {
        syscall(SYS_geteuid);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("unknown action: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
}

/* A deny-list shaped as libseccomp generates it: the architecture, the x32 bit, then each
 * number, with 64-bit argument comparisons made of two 32-bit halves. */
static void case_denylist(void)
{
    nnp();
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_OFF),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        /* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        /* 5 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mkdir, 0, 1),
        /* 7 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kill, 0, 6),
        /* kill(pid, sig) is refused only for sig == 0 (all 64 bits of args[1]) */
        /* 9 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4),
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
        /* 11 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        /* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        /* 13 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ESRCH),
        /* 14 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* 15 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
        /* arithmetic on the number: (nr * 2 + 1) >> 1 == SYS_rmdir, through X and M[] */
        /* 16 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2),
        /* 17 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
        /* 18 */ BPF_STMT(BPF_ST, 0),
        /* 19 */ BPF_STMT(BPF_LDX | BPF_IMM, 1),
        /* 20 */ BPF_STMT(BPF_LD | BPF_MEM, 0),
        /* 21 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_X, 0),
        /* 22 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rmdir, 0, 1),
        /* 23 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTEMPTY),
        /* 24 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    show("install deny-list", install(code, sizeof code / sizeof *code, 0));
    show("mkdir", mkdir("/tmp/denied", 0755));
    show("rmdir", rmdir("/tmp"));
    show("kill(self, 0)", kill(getpid(), 0));
    show("kill(self, SIGCONT)", kill(getpid(), SIGCONT));
    show("kill(self, 0 | 1<<32) is not sig 0 to the filter", syscall(SYS_kill, getpid(), 1UL << 32));
    show("x32 number", syscall(0x40000000 | SYS_getpid));
    for (int i = 0; i < 3; i++)  /* the same answers on later calls (remembered verdicts) */
        show("mkdir again", mkdir("/tmp/denied", 0755));
    show("kill(self, 0) again", kill(getpid(), 0));
    show("kill(self, SIGCONT) again", kill(getpid(), SIGCONT));
}

static void print_status(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s: %s\n", path, strerrorname_np(errno));
        return;
    }
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Seccomp", 7) || !strncmp(line, "NoNewPrivs", 10))
            printf("%s", line);
    fclose(f);
}

/* /proc/PID/status and /proc/PID/task/TID/status (Sentrio only: no /proc under plain chroot). */
static void case_status(void)
{
    print_status("/proc/self/status");
    nnp();
    install_one(SYS_uname, SECCOMP_RET_ERRNO | EPERM, 0);
    install_one(SYS_uname, SECCOMP_RET_ERRNO | EPERM, 0);
    print_status("/proc/self/status");
    pthread_t thread;
    go = 0;
    pthread_create(&thread, NULL, worker, (void *)1);
    while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
        usleep(1000);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", worker_tid);
    print_status(path);
    __atomic_store_n(&go, 2, __ATOMIC_SEQ_CST);
    pthread_join(thread, NULL);
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
        syscall(SYS_exit, 0);
    }
    waitpid(child, NULL, 0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "errno")) case_errno();
    else if (!strcmp(c, "trap")) case_trap();
    else if (!strcmp(c, "kill")) case_kill();
    else if (!strcmp(c, "inherit")) case_inherit(argv[0]);
    else if (!strcmp(c, "after-exec")) case_after_exec();
    else if (!strcmp(c, "tsync")) case_tsync();
    else if (!strcmp(c, "invalid")) case_invalid();
    else if (!strcmp(c, "privs")) case_privs();
    else if (!strcmp(c, "strict")) case_strict();
    else if (!strcmp(c, "precedence")) case_precedence();
    else if (!strcmp(c, "denylist")) case_denylist();
    else if (!strcmp(c, "status")) case_status();
    else { fprintf(stderr, "unknown case %s\n", c); return 2; }
    return 0;
}
