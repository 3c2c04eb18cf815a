/* /dev/null, /dev/zero, /dev/full, /dev/urandom. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
    char buf[16];
    int fd;
    T(fd = open("/dev/null", O_RDWR));
    T(write(fd, "abc", 3));
    T(read(fd, buf, sizeof buf));
    T(lseek(fd, 100, SEEK_SET));
    close(fd);
    T(fd = open("/dev/zero", O_RDONLY));
    memset(buf, 7, sizeof buf);
    T(read(fd, buf, sizeof buf));
    printf("zero: %d %d\n", buf[0], buf[15]);
    close(fd);
    T(fd = open("/dev/full", O_WRONLY));
    T(write(fd, "abc", 3));
    close(fd);
    T(fd = open("/dev/urandom", O_RDONLY));
    T(read(fd, buf, sizeof buf));
    close(fd);
    struct stat st;
    T(stat("/dev/null", &st));
    printf("null: chr %d rdev %lx mode %o\n", S_ISCHR(st.st_mode), (unsigned long)st.st_rdev, st.st_mode & 0777);
    return 0;
}
