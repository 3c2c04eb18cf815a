/* Calls where Linux returns (or wakes, or kills) and an emulation might hang, or wake whom it
   should not. Each case runs in a child with an alarm, so a hang is reported as such rather
   than stalling the run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* <linux/futex.h>, spelled out: musl-gcc has no kernel headers. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128

#define BIG (1 << 20)

/* A child that reads 10000 bytes of the pipe and exits, closing the last read end. */
static pid_t early_reader(int p[2]) {
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        char buf[4096];
        size_t got = 0;
        while (got < 10000) {
            ssize_t n = read(p[0], buf, sizeof buf);
            if (n <= 0) break;
            got += n;
        }
        _exit(0);
    }
    close(p[0]);
    return child;
}

static int pipe_partial_write(void) {
    int p[2];
    pipe(p);
    pid_t child = early_reader(p);
    signal(SIGPIPE, SIG_IGN);
    char *data = calloc(1, BIG);
    ssize_t n = write(p[1], data, BIG);
    int e = errno;
    printf("partial write: %s\n", n > 0 && n < BIG ? "a short count" : n < 0 ? strerror(e) : "all");
    n = write(p[1], data, 10);
    printf("next write: %zd %s\n", n, n < 0 ? strerror(errno) : "");
    waitpid(child, NULL, 0);
    return 0;
}

static int splice_partial(void) {
    int in[2], out[2];
    pipe(in);
    pipe(out);
    fcntl(in[0], F_SETPIPE_SZ, BIG);
    char *data = calloc(1, 200000);
    write(in[1], data, 200000);
    pid_t child = early_reader(out);
    signal(SIGPIPE, SIG_IGN);
    ssize_t n = splice(in[0], NULL, out[1], NULL, 200000, 0);
    printf("partial splice: %s\n", n > 0 && n < 200000 ? "a short count" : n < 0 ? strerror(errno) : "all");
    waitpid(child, NULL, 0);
    return 0;
}

static int epfd, ready_pipe[2];
static void *add_ready(void *arg) {
    (void)arg;
    usleep(100000);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ready_pipe[0]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, ready_pipe[0], &ev);
    return NULL;
}

static int epoll_added_while_waiting(void) {
    epfd = epoll_create1(0);
    pipe(ready_pipe);
    write(ready_pipe[1], "x", 1);
    pthread_t thread;
    pthread_create(&thread, NULL, add_ready, NULL);
    struct epoll_event ev;
    int n = epoll_wait(epfd, &ev, 1, 20000);
    printf("epoll_wait woken by an added ready fd: %d\n", n);
    pthread_join(thread, NULL);
    return 0;
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *timeout) {
    return syscall(SYS_futex, uaddr, op, val, timeout, NULL, 0);
}

static int shared_futex(int wait_private, int wake_private) {
    uint32_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *word = 0;
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        *word = 1;
        long woken = futex(word, FUTEX_WAKE | (wake_private ? FUTEX_PRIVATE_FLAG : 0), 1, NULL);
        _exit(woken > 0 ? 1 : 0);
    }
    struct timespec two = {.tv_sec = 2};
    long r = futex(word, FUTEX_WAIT | (wait_private ? FUTEX_PRIVATE_FLAG : 0), 0, &two);
    int e = errno;
    int status;
    waitpid(child, &status, 0);
    printf("futex wait %s, wake %s: %s, woke %d\n", wait_private ? "private" : "shared",
           wake_private ? "private" : "shared", r == 0 ? "returned 0" : strerror(e), WEXITSTATUS(status));
    return 0;
}

static void on_usr1(int signo) {
    volatile char pad[65536];
    pad[0] = signo;
    pad[65535] = pad[0];
}

static void on_segv(int signo) {
    (void)signo;
    static const char message[] = "SIGSEGV handler ran\n";
    write(1, message, sizeof message - 1);
    _exit(3);
}

static int altstack_overflow_handled(void) {
    char *area = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(area, 4096, PROT_NONE);
    stack_t ss = {.ss_sp = area + 4096, .ss_size = 3 * 4096};
    sigaltstack(&ss, NULL);
    struct sigaction segv = {.sa_handler = on_segv, .sa_flags = SA_ONSTACK};
    sigaction(SIGSEGV, &segv, NULL);
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK};
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("survived an altstack overflow\n");
    return 0;
}

static int altstack_overflow(void) {
    char *area = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(area, 4096, PROT_NONE); /* a guard page below the alternate stack */
    stack_t ss = {.ss_sp = area + 4096, .ss_size = 3 * 4096};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK};
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("survived an altstack overflow\n");
    return 0;
}

static void run(const char *name, int (*fn)(void)) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        alarm(10);
        int result = fn();
        fflush(stdout);
        _exit(result);
    }
    int status;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status))
        printf("%s: killed by %s\n", name, WTERMSIG(status) == SIGALRM ? "SIGALRM (hung)" : strsignal(WTERMSIG(status)));
}

static int f00(void) { return shared_futex(0, 0); }
static int f01(void) { return shared_futex(0, 1); }
static int f10(void) { return shared_futex(1, 0); }
static int f11(void) { return shared_futex(1, 1); }

int main(void) {
    run("pipe", pipe_partial_write);
    run("splice", splice_partial);
    run("epoll", epoll_added_while_waiting);
    run("futex shared/shared", f00);
    run("futex shared/private", f01);
    run("futex private/shared", f10);
    run("futex private/private", f11);
    run("altstack", altstack_overflow);
    run("altstack, SIGSEGV handled on it", altstack_overflow_handled);
    return 0;
}
