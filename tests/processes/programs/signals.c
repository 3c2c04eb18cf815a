/* Signal delivery: handlers with siginfo, faults caught and siglongjmp'd out of, nesting,
 * masks, pending, sigsuspend, sigtimedwait, sigaltstack, SA_RESETHAND, FP state across a
 * handler, SA_RESTART vs EINTR, nanosleep's remainder, alarm and pause. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf escape;
static volatile sig_atomic_t got, order[8], depth;
static volatile int norder;
static volatile void *fault_addr;
static volatile int fault_code;
static char altstack[1 << 16];
static volatile int handler_on_altstack, altstack_flags_in_handler;

static void on_fault(int sig, siginfo_t *info, void *uc) {
    fault_addr = info->si_addr;
    fault_code = info->si_code;
    siglongjmp(escape, sig);
}

static void on_info(int sig, siginfo_t *info, void *uc) {
    got = sig;
    printf("  handler: sig %d, code %d, from us %d\n", sig, info->si_code, info->si_pid == getpid());
}

static void on_usr2(int sig) { order[norder++] = 2; }

static void on_usr1(int sig) {
    order[norder++] = 1;
    raise(SIGUSR2);  /* delivered inside this handler: nested */
    order[norder++] = 3;
}

static void on_alt(int sig) {
    char here;
    handler_on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
    stack_t now;
    sigaltstack(NULL, &now);
    altstack_flags_in_handler = now.ss_flags;
}

static void on_fp(int sig) {
    volatile double x = 1.0;
    for (int i = 0; i < 100; i++) x = x * 1.5 + 0.25;  /* clobbers xmm registers */
    got = (int)x & 1;
}

static void on_plain(int sig) { got = sig; }

static volatile int *go;
static void on_alarm_go(int sig) { got = sig; *go = 1; }

/* Look at the frame the kernel built: skip the ud2 that raised SIGILL by moving RIP. */
static volatile long frame_facts[8];
static void on_ill(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    frame_facts[0] = uc->uc_flags;
    frame_facts[1] = uc->uc_mcontext.gregs[REG_TRAPNO];
    frame_facts[2] = (long)info->si_addr == uc->uc_mcontext.gregs[REG_RIP];
    frame_facts[3] = uc->uc_mcontext.fpregs != NULL;
    frame_facts[4] = uc->uc_mcontext.fpregs ? uc->uc_mcontext.fpregs->mxcsr : -1;
    frame_facts[5] = sigismember(&uc->uc_sigmask, SIGUSR2);
    /* uc_stack.ss_flags is left out: without an alternate stack it is whatever the launcher's
     * thread had (Linux saves the stored flags), so it differs between environments. */
    frame_facts[7] = info->si_code;
    uc->uc_mcontext.gregs[REG_RIP] += 2;
}

static void install(int sig, void (*handler)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigaction(sig, &sa, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);

    int sig = sigsetjmp(escape, 1);
    if (sig == 0) {
        *(volatile int *)16 = 1;
        printf("no fault?\n");
    } else {
        printf("caught SIGSEGV %d: code %d, addr %p\n", sig, fault_code, fault_addr);
    }
    sig = sigsetjmp(escape, 1);
    if (sig == 0) {
        volatile int zero = 0;
        printf("%d\n", 100 / zero);
    } else {
        printf("caught SIGFPE %d: code %d\n", sig, fault_code);
    }
    /* once more: siglongjmp restored the mask, so SIGSEGV is deliverable again */
    sig = sigsetjmp(escape, 1);
    if (sig == 0) *(volatile char *)(uintptr_t)0x1000 = 0;
    printf("second SIGSEGV caught: %d\n", sig);

    struct sigaction ill;
    memset(&ill, 0, sizeof ill);
    ill.sa_sigaction = on_ill;
    ill.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &ill, NULL);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, NULL);
    __asm__ volatile("ud2");
    sigprocmask(SIG_UNBLOCK, &usr2, NULL);
    printf("SIGILL frame: uc_flags %ld, trapno %ld, si_addr is rip %ld, fpregs %ld, mxcsr %#lx, "
           "saved mask has USR2 %ld, code %ld; resumed after ud2\n",
           frame_facts[0], frame_facts[1], frame_facts[2], frame_facts[3], frame_facts[4], frame_facts[5],
           frame_facts[7]);

    sa.sa_sigaction = on_info;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 7});

    install(SIGUSR1, on_usr1, 0);
    install(SIGUSR2, on_usr2, 0);
    raise(SIGUSR1);
    printf("nested order: %d %d %d\n", order[0], order[1], order[2]);

    sigset_t block, old, pending;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    norder = 0;
    raise(SIGUSR2);
    sigpending(&pending);
    printf("blocked: pending %d, delivered %d\n", sigismember(&pending, SIGUSR2), norder);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: delivered %d\n", norder);

    /* sigtimedwait */
    sigprocmask(SIG_BLOCK, &block, NULL);
    struct timespec short_wait = {0, 10 * 1000 * 1000};
    int r = sigtimedwait(&block, NULL, &short_wait);
    printf("sigtimedwait with nothing pending: %d %s\n", r, strerror(errno));
    raise(SIGUSR2);
    siginfo_t info;
    r = sigtimedwait(&block, &info, &short_wait);
    printf("sigtimedwait: %d, code %d\n", r, info.si_code);
    /* sigsuspend: wait with SIGUSR2 unblocked while it is pending */
    norder = 0;
    raise(SIGUSR2);
    sigset_t none;
    sigemptyset(&none);
    r = sigsuspend(&none);
    sigprocmask(SIG_BLOCK, NULL, &old);
    printf("sigsuspend: %d %s, handled %d, mask restored %d\n", r, strerror(errno), norder, sigismember(&old, SIGUSR2));
    sigprocmask(SIG_UNBLOCK, &block, NULL);

    /* sigaltstack */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    install(SIGUSR1, on_alt, SA_ONSTACK);
    raise(SIGUSR1);
    printf("on altstack %d, flags in handler %d\n", handler_on_altstack, altstack_flags_in_handler);
    install(SIGUSR1, on_alt, 0);
    raise(SIGUSR1);
    printf("without SA_ONSTACK: on altstack %d\n", handler_on_altstack);

    /* SA_RESETHAND */
    install(SIGUSR1, on_plain, SA_RESETHAND);
    raise(SIGUSR1);
    sigaction(SIGUSR1, NULL, &sa);
    printf("after SA_RESETHAND: default again %d\n", sa.sa_handler == SIG_DFL);

    /* FP state survives a handler */
    install(SIGUSR1, on_fp, 0);
    volatile double a = 3.25, b = 0.5;
    double before = a * b;
    raise(SIGUSR1);
    printf("fp after handler: %.4f %.4f\n", before, a * b);

    /* EINTR vs SA_RESTART: wait for a child while SIGALRM comes */
    go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t child = fork();
    if (child == 0) { while (!*go) usleep(1000); _exit(6); }
    install(SIGALRM, on_plain, 0);
    alarm(1);
    struct itimerval tv = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &tv, NULL);
    int status;
    r = waitpid(child, &status, 0);
    printf("waitpid without SA_RESTART: %d %s\n", r, strerror(errno));
    install(SIGALRM, on_alarm_go, SA_RESTART);  /* the child exits once the alarm has come */
    setitimer(ITIMER_REAL, &tv, NULL);
    r = waitpid(child, &status, 0);
    printf("waitpid with SA_RESTART: %d, status %d\n", r == child, WEXITSTATUS(status));

    /* nanosleep interrupted: EINTR and a remainder */
    setitimer(ITIMER_REAL, &tv, NULL);
    struct timespec req = {5, 0}, rem = {0, 0};
    r = nanosleep(&req, &rem);
    printf("nanosleep: %d %s, remainder between 4 and 5 s: %d\n", r, strerror(errno), rem.tv_sec == 4);

    /* alarm + pause */
    got = 0;
    alarm(1);
    printf("alarm pending: %u\n", alarm(1));
    r = pause();
    printf("pause: %d %s, got %d\n", r, strerror(errno), got);
    return 0;
}
