/* lseek's SEEK_DATA and SEEK_HOLE on a sparse file (CPython's test_posix.test_fs_holes): the
 * data after a hole, the hole after data, the implicit hole at the end, ENXIO past the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void report(const char *what, off_t rc) {
    printf("%s: %lld %s\n", what, (long long)rc, rc < 0 ? strerror(errno) : "");
}

int main(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/holes-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    pwrite(fd, "data", 4, 1 << 20);  /* a 1 MiB hole, then data */
    report("data from 0", lseek(fd, 0, SEEK_DATA));
    report("hole from 0", lseek(fd, 0, SEEK_HOLE));
    report("hole after the data", lseek(fd, (1 << 20) + 1, SEEK_HOLE));
    report("data past the end", lseek(fd, 2 << 20, SEEK_DATA));
    report("hole past the end", lseek(fd, 2 << 20, SEEK_HOLE));
    report("bad whence", lseek(fd, 0, 5));
    return 0;
}
