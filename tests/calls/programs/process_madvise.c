/* process_madvise: advice through a pidfd, for the caller's own memory and a child's (which
 * needs CAP_SYS_NICE and a remote-safe advice), and its errors. Usage: process_madvise */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

static long pmadvise(int fd, struct iovec *iov, size_t n, int advice, unsigned flags)
{
    return syscall(SYS_process_madvise, fd, iov, n, advice, flags);
}

int main(void)
{
    char *mem = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mem[0] = 1;
    int self = syscall(SYS_pidfd_open, getpid(), 0);
    struct iovec iov[2] = {{mem, 4096}, {mem + 2 * 4096, 2 * 4096}};
    show("self MADV_COLD", pmadvise(self, iov, 2, MADV_COLD, 0));
    show("self MADV_PAGEOUT", pmadvise(self, iov, 2, MADV_PAGEOUT, 0));
    show("self MADV_WILLNEED", pmadvise(self, iov, 2, MADV_WILLNEED, 0));
    show("self MADV_DONTNEED", pmadvise(self, iov, 2, MADV_DONTNEED, 0));
    show("self bad advice", pmadvise(self, iov, 2, 999, 0));
    show("flags", pmadvise(self, iov, 2, MADV_COLD, 1));
    show("bad fd", pmadvise(99, iov, 2, MADV_COLD, 0));
    show("not a pidfd", pmadvise(1, iov, 2, MADV_COLD, 0));
    show("bad iovec", pmadvise(self, (struct iovec *)8, 1, MADV_COLD, 0));
    show("too many", pmadvise(self, iov, 1025, MADV_COLD, 0));
    show("none", pmadvise(self, iov, 0, MADV_COLD, 0));
    munmap(mem + 3 * 4096, 4096);
    show("partly unmapped", pmadvise(self, iov, 2, MADV_COLD, 0));
    struct iovec unmapped = {mem + 3 * 4096, 4096};
    show("unmapped", pmadvise(self, &unmapped, 1, MADV_COLD, 0));
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    int child = syscall(SYS_pidfd_open, pid, 0);
    show("child MADV_COLD", pmadvise(child, iov, 1, MADV_COLD, 0));
    show("child MADV_DONTNEED", pmadvise(child, iov, 1, MADV_DONTNEED, 0));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}
