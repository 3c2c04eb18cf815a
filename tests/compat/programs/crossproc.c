/* process_vm_readv/writev into a child, kcmp between processes and fds, and futex2's
 * futex_wait/futex_wake (Linux 6.7), each with its error cases. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NR_futex_wake 454
#define NR_futex_wait 455
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128

static void report(const char *what, long rc) {
    printf("%s: %ld %s\n", what, rc, rc < 0 ? strerror(errno) : "");
}

static char secret[16] = "child's secret";
static unsigned int word;

static void *waiter(void *arg) {
    long rc = syscall(NR_futex_wait, &word, 0, 0xFFFFFFFFUL, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, NULL, 0);
    printf("waiter woke: %ld\n", rc);
    return arg;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t child = fork();
    if (child == 0) {
        char c;
        read(go[0], &c, 1);
        printf("child sees: %s\n", secret);
        _exit(0);
    }
    char buf[16] = {0};
    struct iovec local = {buf, sizeof buf}, remote = {secret, sizeof secret};
    report("readv", process_vm_readv(child, &local, 1, &remote, 1, 0));
    printf("read: %s\n", buf);
    struct iovec news = {"parent wrote it", 16};
    report("writev", process_vm_writev(child, &news, 1, &remote, 1, 0));
    report("readv with flags", process_vm_readv(child, &local, 1, &remote, 1, 1));
    report("readv of no process", process_vm_readv(99999, &local, 1, &remote, 1, 0));
    struct iovec nowhere = {(void *)16, 8};
    report("readv from unmapped", process_vm_readv(child, &local, 1, &nowhere, 1, 0));

    pid_t me = getpid();
    report("kcmp vm self", syscall(SYS_kcmp, me, me, KCMP_VM, 0, 0));
    printf("kcmp vm child differs: %d\n", syscall(SYS_kcmp, me, child, KCMP_VM, 0, 0) > 0);
    int fd = open("/", O_RDONLY), same = dup(fd), other = open("/", O_RDONLY);
    report("kcmp file dup", syscall(SYS_kcmp, me, me, KCMP_FILE, fd, same));
    printf("kcmp file other differs: %d\n", syscall(SYS_kcmp, me, me, KCMP_FILE, fd, other) > 0);
    report("kcmp file closed fd", syscall(SYS_kcmp, me, me, KCMP_FILE, fd, 999));
    report("kcmp bad type", syscall(SYS_kcmp, me, me, 99, 0, 0));
    report("kcmp no process", syscall(SYS_kcmp, me, 99999, KCMP_VM, 0, 0));
    write(go[1], "g", 1);
    waitpid(child, NULL, 0);

    report("futex_wait with a 64-bit mask", syscall(NR_futex_wait, &word, 0, ~0UL, FUTEX2_SIZE_U32, NULL, 0));
    report("futex_wait on another value", syscall(NR_futex_wait, &word, 1, 0xFFFFFFFFUL, FUTEX2_SIZE_U32, NULL, 0));
    report("futex_wait bad flags", syscall(NR_futex_wait, &word, 0, 0xFFFFFFFFUL, 0, NULL, 0));
    report("futex_wake nobody", syscall(NR_futex_wake, &word, 0xFFFFFFFFUL, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE));
    report("futex_wake empty mask", syscall(NR_futex_wake, &word, 0UL, 1, FUTEX2_SIZE_U32));
    struct timespec soon;
    clock_gettime(CLOCK_MONOTONIC, &soon);
    soon.tv_nsec += 50000000;
    if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
    report("futex_wait until soon", syscall(NR_futex_wait, &word, 0, 0xFFFFFFFFUL, FUTEX2_SIZE_U32, &soon, CLOCK_MONOTONIC));
    pthread_t thread;
    pthread_create(&thread, NULL, waiter, NULL);
    long woken = 0;
    for (int i = 0; i < 500 && woken == 0; i++) {
        usleep(2000);
        woken = syscall(NR_futex_wake, &word, 0xFFFFFFFFUL, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
    }
    pthread_join(thread, NULL);
    report("futex_wake a waiter", woken);
    return 0;
}
