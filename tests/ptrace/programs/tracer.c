/* Guest ptrace, natively and under Sentrio: ./tracer MODE. Each mode prints what a tracer sees;
 * nothing printed depends on pids or addresses, so both runs print the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r) { return r == -1 ? strerrorname_np(errno) : "ok"; }

static void show_status(const char *what, int status) {
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by %s\n", what, sigabbrev_np(WTERMSIG(status)));
    else if (WIFSTOPPED(status))
        printf("%s: stopped %#x\n", what, status >> 8);
}

/* TRACEME, exec, then PTRACE_SYSCALL to the end: every system call's number and result. */
static int syscalls(void) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execl("/bin/tiny", "tiny", (char *)0);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    show_status("after exec", status);
    siginfo_t si;
    ptrace(PTRACE_GETSIGINFO, child, 0, &si);
    printf("exec stop siginfo: %s code %d\n", sigabbrev_np(si.si_signo), si.si_code);
    int entering = 1, calls = 0;
    for (;;) {
        ptrace(PTRACE_SYSCALL, child, 0, 0);
        waitpid(child, &status, 0);
        if (!WIFSTOPPED(status))
            break;
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, child, 0, &regs);
        if (entering) {
            printf("enter %lld (rax %lld)\n", (long long)regs.orig_rax, (long long)regs.rax);
            calls++;
        } else {
            printf("exit %lld = %lld\n", (long long)regs.orig_rax, (long long)regs.rax > 0 ? 1LL : (long long)regs.rax);
        }
        entering = !entering;
    }
    show_status("tiny", status);
    printf("%d system calls\n", calls);
    return 0;
}

static volatile long value = 0x1234;

/* The TracerPid line of /proc/PID/status. */
static long tracer_pid(pid_t pid) {
    char path[64], line[256];
    long found = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "TracerPid:", 10))
            found = atol(line + 10);
    if (f)
        fclose(f);
    return found;
}

/* PEEKDATA and POKEDATA change the child's variable; a bad address is EIO. */
static int poke(void) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        printf("child sees %#lx\n", value);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    show_status("child", status);
    if (getenv("SHOW_TRACERPID"))
        printf("child's TracerPid is ours: %d, ours is %ld\n", tracer_pid(child) == getpid(), tracer_pid(getpid()));
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, child, (void *)&value, 0);
    printf("peek: %#lx %s\n", word, errno ? strerrorname_np(errno) : "ok");
    printf("poke: %s\n", err(ptrace(PTRACE_POKEDATA, child, (void *)&value, (void *)0xbeef)));
    errno = 0;
    word = ptrace(PTRACE_PEEKDATA, child, (void *)&value, 0);
    printf("peek again: %#lx\n", word);
    errno = 0;
    ptrace(PTRACE_PEEKDATA, child, (void *)8, 0);
    printf("peek of address 8: %s\n", strerrorname_np(errno));
    const char *cont = err(ptrace(PTRACE_CONT, child, 0, 0));
    waitpid(child, &status, 0);
    printf("cont with SIGSTOP suppressed: %s\n", cont);
    show_status("child", status);
    printf("ptrace on a reaped child: %s\n", err(ptrace(PTRACE_CONT, child, 0, 0)));
    return 0;
}

/* At getppid's exit-stop the tracer sets rax; with TRACESYSGOOD the stop says SIGTRAP|0x80.
 * At getuid's entry-stop it sets orig_rax to -1: the call is skipped, rax stays -ENOSYS. */
static int setregs(void) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        long r = syscall(110);
        long u = syscall(102);
        int e = errno;
        printf("child: getppid returned %ld, getuid %ld %s\n", r, u, strerrorname_np(e));
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    show_status("child", status);
    printf("setoptions: %s\n", err(ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACESYSGOOD)));
    int entering = 1, reported = 0;
    for (;;) {
        ptrace(PTRACE_SYSCALL, child, 0, 0);
        waitpid(child, &status, 0);
        if (!WIFSTOPPED(status))
            break;
        if (!reported) {
            show_status("first syscall stop", status);
            reported = 1;
        }
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, child, 0, &regs);
        if (!entering && regs.orig_rax == 110) {
            regs.rax = 4242;
            printf("setregs at exit: %s\n", err(ptrace(PTRACE_SETREGS, child, 0, &regs)));
        }
        if (entering && regs.orig_rax == 102) {
            regs.orig_rax = -1;
            printf("skip at entry: %s\n", err(ptrace(PTRACE_SETREGS, child, 0, &regs)));
        }
        entering = !entering;
    }
    show_status("child", status);
    return 0;
}

/* TRACEFORK: the child's fork is an event, the grandchild is traced from its first instruction. */
static int follow(void) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pid_t grandchild = fork();
        if (grandchild == 0)
            _exit(7);
        int status;
        waitpid(grandchild, &status, 0);
        _exit(WEXITSTATUS(status) + 1);
    }
    int status;
    waitpid(child, &status, 0);
    printf("setoptions: %s\n", err(ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACEFORK)));
    ptrace(PTRACE_CONT, child, 0, 0);
    pid_t grandchild = 0;
    int fork_event = 0, grandchild_stop = 0, grandchild_exit = -1, child_exit = -1, child_sigchld = 0;
    for (;;) {
        pid_t who = waitpid(-1, &status, __WALL);
        if (who < 0)
            break;
        if (who == child && WIFSTOPPED(status) && status >> 8 == (SIGTRAP | PTRACE_EVENT_FORK << 8)) {
            unsigned long msg;
            ptrace(PTRACE_GETEVENTMSG, child, 0, &msg);
            if (grandchild && (pid_t)msg != grandchild)
                printf("event message %lu is not the grandchild\n", msg);
            grandchild = msg;
            fork_event = 1;
            ptrace(PTRACE_CONT, child, 0, 0);
        } else if (who == child && WIFSTOPPED(status)) {
            child_sigchld += WSTOPSIG(status) == SIGCHLD;
            ptrace(PTRACE_CONT, child, 0, WSTOPSIG(status));
        } else if (who == child) {
            child_exit = WEXITSTATUS(status);
        } else if (WIFSTOPPED(status)) {
            if (grandchild && who != grandchild)
                printf("a stop of an unknown process\n");
            grandchild = who;
            grandchild_stop = WSTOPSIG(status);
            ptrace(PTRACE_CONT, who, 0, 0);
        } else {
            grandchild_exit = WEXITSTATUS(status);
        }
    }
    printf("fork event: %d\n", fork_event);
    printf("grandchild's first stop: %s\n", grandchild_stop ? sigabbrev_np(grandchild_stop) : "none");
    printf("grandchild exited %d, child exited %d, child's SIGCHLD stops %d\n", grandchild_exit, child_exit,
           child_sigchld);
    return 0;
}

/* Attaching: refused across users without CAP_SYS_PTRACE, allowed to the same user. */
static pid_t as_user(uid_t uid, int ready) {
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
            _exit(1);
        prctl(PR_SET_DUMPABLE, 1);
        write(ready, "x", 1);
        for (;;)
            pause();
    }
    return pid;
}

static int attach(void) {
    int ready[2];
    pipe(ready);
    char c;
    pid_t target = as_user(1000, ready[1]);
    read(ready[0], &c, 1);
    printf("root attaches to uid 1000: %s\n", err(ptrace(PTRACE_ATTACH, target, 0, 0)));
    printf("TRACEME twice is EPERM: ");
    pid_t probe = fork();
    if (probe == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        printf("%s\n", err(ptrace(PTRACE_TRACEME, 0, 0, 0)));
        _exit(0);
    }
    int status;
    waitpid(probe, &status, 0);
    fflush(stdout);
    for (uid_t uid = 1001; uid >= 1000; uid--) {
        pid_t sibling = fork();
        if (sibling == 0) {
            if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
                _exit(1);
            long r = ptrace(PTRACE_ATTACH, target, 0, 0);
            printf("uid %d attaches to a uid 1000 sibling: %s\n", uid, err(r));
            if (r == 0) {
                waitpid(target, &status, 0);
                show_status("sibling", status);
                printf("detach: %s\n", err(ptrace(PTRACE_DETACH, target, 0, 0)));
            }
            fflush(stdout);
            _exit(0);
        }
        waitpid(sibling, &status, 0);
    }
    printf("seize of a nonexistent pid: %s\n", err(ptrace(PTRACE_SEIZE, 99999, 0, 0)));
    kill(target, SIGKILL);
    waitpid(target, &status, 0);
    show_status("target", status);
    return 0;
}

/* PTRACE_SINGLESTEP: each step is a SIGTRAP (TRAP_TRACE) one instruction on. */
static int step(void) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        _exit(5);
    }
    int status;
    waitpid(child, &status, 0);
    struct user_regs_struct regs;
    ptrace(PTRACE_GETREGS, child, 0, &regs);
    unsigned long long rip = regs.rip;
    for (int i = 1; i <= 5; i++) {
        ptrace(PTRACE_SINGLESTEP, child, 0, 0);
        waitpid(child, &status, 0);
        siginfo_t si;
        ptrace(PTRACE_GETSIGINFO, child, 0, &si);
        ptrace(PTRACE_GETREGS, child, 0, &regs);
        printf("step %d: %s code %d, moved %d, TF visible %d\n", i, sigabbrev_np(WSTOPSIG(status)), si.si_code,
               regs.rip != rip, !!(regs.eflags & 0x100));
        rip = regs.rip;
    }
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &status, 0);
    show_status("child", status);
    return 0;
}

/* PTRACE_SEIZE with options, PTRACE_INTERRUPT's PTRACE_EVENT_STOP, PTRACE_GET_SYSCALL_INFO at
 * the next call's entry and exit, a TRACEEXEC event, PTRACE_KILL. */
static int seize(void) {
    int ready[2], started[2];
    pipe(ready);
    pipe(started);
    pid_t child = fork();
    if (child == 0) {
        char c;
        write(started[1], "x", 1); /* its next system call is the read */
        read(ready[0], &c, 1);
        execl("/bin/tiny", "tiny", (char *)0);
        _exit(127);
    }
    char c;
    read(started[0], &c, 1);
    long r = ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    printf("seize: %s\n", err(r));
    printf("cont of a running tracee: %s\n", err(ptrace(PTRACE_CONT, child, 0, 0)));
    printf("interrupt: %s\n", err(ptrace(PTRACE_INTERRUPT, child, 0, 0)));
    int status;
    waitpid(child, &status, 0);
    printf("interrupt stop: %#x\n", status >> 8);
    struct __ptrace_syscall_info info;
    long size = ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof info, &info);
    printf("syscall info outside a call: op %d\n", info.op);
    write(ready[1], "x", 1);
    ptrace(PTRACE_SYSCALL, child, 0, 0);
    waitpid(child, &status, 0);
    size = ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof info, &info);
    printf("next stop %#x: op %d size %ld nr %llu arch %#x\n", status >> 8, info.op, size,
           (unsigned long long)info.entry.nr, info.arch);
    for (;;) {
        ptrace(PTRACE_SYSCALL, child, 0, 0);
        waitpid(child, &status, 0);
        if (status >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8)) {
            unsigned long msg;
            ptrace(PTRACE_GETEVENTMSG, child, 0, &msg);
            printf("exec event, message is the tracee: %d\n", (pid_t)msg == child);
            break;
        }
        if (!WIFSTOPPED(status))
            break;
    }
    ptrace(PTRACE_SYSCALL, child, 0, 0);
    waitpid(child, &status, 0);
    size = ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof info, &info);
    printf("after exec: op %d size %ld rval %lld error %d\n", info.op, size, (long long)info.exit.rval,
           info.exit.is_error);
    ptrace(PTRACE_SYSCALL, child, 0, 0);
    waitpid(child, &status, 0);
    size = ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof info, &info);
    printf("then: op %d nr %llu\n", info.op, (unsigned long long)info.entry.nr);
    printf("kill: %s\n", err(ptrace(PTRACE_KILL, child, 0, 0)));
    waitpid(child, &status, 0);
    show_status("child", status);
    return 0;
}

/* A traced thread's own faults: int3's SIGTRAP is the tracer's to cancel; a SIGSEGV the
 * thread blocks still reaches the tracer, and passed on, kills. */
static int fault(void) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        __asm__ volatile("int3");
        sigset_t segv;
        sigemptyset(&segv);
        sigaddset(&segv, SIGSEGV);
        sigprocmask(SIG_BLOCK, &segv, NULL);
        *(volatile int *)8 = 1;
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &status, 0);
    siginfo_t si;
    ptrace(PTRACE_GETSIGINFO, child, 0, &si);
    show_status("int3", status);
    printf("int3 siginfo code %#x\n", si.si_code);
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &status, 0);
    ptrace(PTRACE_GETSIGINFO, child, 0, &si);
    show_status("blocked fault", status);
    printf("fault siginfo code %d address %p\n", si.si_code, si.si_addr);
    ptrace(PTRACE_CONT, child, 0, SIGSEGV);
    waitpid(child, &status, 0);
    show_status("child", status);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "syscalls"))
        return syscalls();
    if (!strcmp(argv[1], "poke"))
        return poke();
    if (!strcmp(argv[1], "setregs"))
        return setregs();
    if (!strcmp(argv[1], "follow"))
        return follow();
    if (!strcmp(argv[1], "fault"))
        return fault();
    if (!strcmp(argv[1], "seize"))
        return seize();
    if (!strcmp(argv[1], "step"))
        return step();
    if (!strcmp(argv[1], "attach"))
        return attach();
    return 2;
}
