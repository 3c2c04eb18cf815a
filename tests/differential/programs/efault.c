/* Bad pointers given to system calls come back as EFAULT, and the program goes on. */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    ERRNO_OF("write from a bad buffer", syscall(SYS_write, 1, (void *)1, 10));
    ERRNO_OF("read into a bad buffer", syscall(SYS_read, 0, (void *)1, 10));
    ERRNO_OF("clock_gettime to a bad pointer", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1));
    ERRNO_OF("clock_gettime to a kernel address", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)0xffffffffff600000UL));
    ERRNO_OF("nanosleep from a bad pointer", syscall(SYS_nanosleep, (void *)4, NULL));
    ERRNO_OF("writev with a bad iovec array", syscall(SYS_writev, 1, (void *)1, 1));
    ERRNO_OF("gettimeofday to a bad pointer", syscall(SYS_gettimeofday, (void *)1, NULL));
    ERRNO_OF("getrlimit to a bad pointer", syscall(SYS_getrlimit, 0, (void *)1));
    printf("still running\n");
    return 0;
}
