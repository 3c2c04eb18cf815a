/* /dev/null, /dev/zero, /dev/full, /dev/urandom. */
#include "check.h"
#include <sys/mman.h>
#include <sys/wait.h>
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

    /* mmap of /dev/zero: fresh zeroes, private (a copy per process) or shared (seen across fork) */
    T(fd = open("/dev/zero", O_RDWR));
    char *private = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *shared = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("zero maps: %d %d, zeroes %d %d\n", private != MAP_FAILED, shared != MAP_FAILED,
           private != MAP_FAILED && private[100] == 0, shared != MAP_FAILED && shared[8000] == 0);
    if (private != MAP_FAILED && shared != MAP_FAILED) {
        if (fork() == 0) { private[0] = 'p'; shared[0] = 's'; _exit(0); }
        wait(NULL);
        printf("after the child wrote: private %d shared %c\n", private[0], shared[0]);
    }
    close(fd);
    T(fd = open("/dev/null", O_RDWR));
    T(mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0);  /* ENODEV */
    close(fd);
    return 0;
}
