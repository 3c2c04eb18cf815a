/* pidfd_send_signal takes an fd of a /proc/PID directory for a pidfd (CPython's
 * test_signal.test_pidfd_send_signal does); another /proc directory, or any other file, is EBADF. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static volatile int got;
static void h(int s) { got = s; }
int main(void) {
    signal(SIGUSR1, h);
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", getpid());
    int fd = open(path, O_DIRECTORY);
    long rc = syscall(SYS_pidfd_send_signal, fd, SIGUSR1, NULL, 0);
    printf("proc dir: %ld %s, got %d\n", rc, rc < 0 ? strerror(errno) : "", got);
    int other = open("/proc/self/fd", O_DIRECTORY);
    rc = syscall(SYS_pidfd_send_signal, other, SIGUSR1, NULL, 0);
    printf("another proc dir: %ld %s\n", rc, rc < 0 ? strerror(errno) : "");
    int root = open("/", O_DIRECTORY);
    rc = syscall(SYS_pidfd_send_signal, root, SIGUSR1, NULL, 0);
    printf("not proc: %ld %s\n", rc, rc < 0 ? strerror(errno) : "");
    return 0;
}
