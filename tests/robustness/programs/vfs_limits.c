/*
 * vfs_limits CASE: cases of issue 18 whose fix belongs to the VFS (the contracts work); each
 * prints what Linux answers. Files are memfds, whose limits are the same natively and in the
 * sandbox (an image's /tmp natively is whatever file system the host has).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t sigxfsz;

static void count(int sig) { sigxfsz++; }

static void report(const char *what, long result) {
    if (result == -1)
        printf("%-48s -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%-48s %ld\n", what, result);
}

#define TRY(call) report(#call, (long)(call))

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    int fd = memfd_create("vfs-limits", 0);
    if (!strcmp(mode, "epoll_cycle")) {
        int a = epoll_create1(0), b = epoll_create1(0);
        struct epoll_event in = {.events = EPOLLIN};
        TRY(epoll_ctl(a, EPOLL_CTL_ADD, b, &in));
        TRY(epoll_ctl(b, EPOLL_CTL_ADD, a, &in));
        struct epoll_event out;
        TRY(epoll_wait(a, &out, 1, 0));
    } else if (!strcmp(mode, "lseek")) {
        TRY(lseek(fd, INT64_MAX, SEEK_SET) == INT64_MAX);
        TRY(lseek(fd, 1, SEEK_CUR));
        TRY(lseek(fd, INT64_MAX, SEEK_CUR));
        TRY(lseek(fd, INT64_MIN, SEEK_END));
    } else if (!strcmp(mode, "select_usec")) {
        struct timeval usec = {0, 1500000};
        TRY(syscall(SYS_select, 0, NULL, NULL, NULL, &usec));  /* (glibc would normalize it) */
        struct timeval negative = {0, -1};
        TRY(syscall(SYS_select, 0, NULL, NULL, NULL, &negative));
    } else if (!strcmp(mode, "copy_overlap")) {
        char data[8192];
        memset(data, 'x', sizeof data);
        write(fd, data, sizeof data);
        loff_t in = 0, out = 100;
        TRY(copy_file_range(fd, &in, fd, &out, 4096, 0));
        in = 0, out = 4096;
        TRY(copy_file_range(fd, &in, fd, &out, 4096, 0));
    } else if (!strcmp(mode, "fsize")) {
        struct sigaction action = {.sa_handler = count};
        sigaction(SIGXFSZ, &action, NULL);
        struct rlimit limit = {1 << 20, RLIM_INFINITY};
        getrlimit(RLIMIT_FSIZE, &limit);
        limit.rlim_cur = 1 << 20;
        setrlimit(RLIMIT_FSIZE, &limit);
        TRY(fallocate(fd, 0, 0, 2 << 20));
        TRY(ftruncate(fd, 2 << 20));
        TRY(ftruncate(fd, 1 << 20));
        TRY(pwrite(fd, "0123456789", 10, (1 << 20) - 4));
        TRY(pwrite(fd, "0123456789", 10, 1 << 20));
        printf("SIGXFSZ: %d\n", sigxfsz);
    } else if (!strcmp(mode, "fallocate_memory")) {
        /* A gigabyte on a memory-backed file, in a sandbox allowed 64 MiB: the host must not pay. */
        long result = fallocate(fd, 0, 0, 1l << 30);
        printf("fallocate 1 GiB: %s\n", result == 0 ? "ok" : strerrorname_np(errno));
    }
    return 0;
}
