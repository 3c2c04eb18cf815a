/* Reading and writing: offsets shared by dup, O_APPEND, pread/pwrite, vectors, truncation. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/ioctl.h>

static void body(const char *dir) {
    char path[256], buf[64] = {0};
    struct stat st;
    printf("== %s\n", dir);
    snprintf(path, sizeof path, "%s/f", dir);
    int fd;
    T(fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0640));
    T(open(path, O_CREAT | O_EXCL | O_RDWR, 0640));
    T(write(fd, "hello world", 11));
    T(lseek(fd, 0, SEEK_CUR));
    int fd2;
    T(fd2 = dup(fd));
    T(lseek(fd2, 6, SEEK_SET));
    T(read(fd, buf, 5));
    printf("read: %s\n", buf);
    T(pwrite(fd, "HELLO", 5, 0));
    memset(buf, 0, sizeof buf);
    T(pread(fd2, buf, 32, 0));
    printf("pread: %s\n", buf);
    T(lseek(fd, 0, SEEK_END));
    T(lseek(fd, -100, SEEK_SET));
    T(lseek(fd, 0, 42));
    T(ftruncate(fd, 3));
    T(fstat(fd, &st));
    printf("size %ld mode %o nlink %ld\n", (long)st.st_size, st.st_mode, (long)st.st_nlink);
    T(ftruncate(fd, 10000));
    T(fstat(fd, &st));
    printf("size %ld\n", (long)st.st_size);
    memset(buf, 'x', sizeof buf);
    T(pread(fd, buf, 8, 4));
    printf("hole bytes: %d %d\n", buf[0], buf[7]);
    T(close(fd));
    T(close(fd2));
    T(close(fd2));
    T(fd = open(path, O_WRONLY | O_APPEND));
    T(write(fd, "tail", 4));
    T(fstat(fd, &st));
    printf("size %ld\n", (long)st.st_size);
    T(read(fd, buf, 4));
    T(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND));
    T(fcntl(fd, F_SETFL, O_NONBLOCK));
    T(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK));
    T(fcntl(fd, F_GETFD));
    T(fcntl(fd, F_SETFD, FD_CLOEXEC));
    T(fcntl(fd, F_GETFD));
    T(fcntl(fd, F_DUPFD, 10));
    T(fcntl(fd, F_DUPFD_CLOEXEC, 10));
    T(fcntl(11, F_GETFD));
    T(dup2(fd, 20));
    T(dup2(fd, fd));
    T(dup3(fd, fd, 0));
    T(dup3(fd, 21, O_CLOEXEC));
    T(fcntl(21, F_GETFD));
    T(dup2(fd, -1));
    T(close(fd));
    T(fd = open(path, O_RDWR | O_TRUNC));
    T(fstat(fd, &st));
    printf("size %ld\n", (long)st.st_size);
    struct iovec iov[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    T(writev(fd, iov, 3));
    char a[3] = {0}, b[5] = {0};
    struct iovec in[2] = {{a, 2}, {b, 4}};
    T(preadv(fd, in, 2, 0));
    printf("preadv: %s %s\n", a, b);
    T(pwritev(fd, iov, 3, 2));
    T(lseek(fd, 0, SEEK_SET));
    memset(buf, 0, sizeof buf);
    T(read(fd, buf, sizeof buf));
    printf("after pwritev: %s\n", buf);
    int n = -1;
    T(lseek(fd, 1, SEEK_SET));
    T(ioctl(fd, FIONREAD, &n));
    printf("fionread %d\n", n);
    T(ioctl(fd, FIOCLEX));
    T(fcntl(fd, F_GETFD));
    T(read(fd, (void *)8, 4));
    T(write(fd, (void *)8, 4));
    T(readv(fd, in, -1));
    T(close(fd));
    T(fd = open(path, O_RDONLY));
    T(write(fd, "x", 1));
    T(ftruncate(fd, 0));
    T(close(fd));
    T(fd = open(dir, O_RDONLY));
    T(read(fd, buf, 4));
    T(write(fd, buf, 4));
    T(close(fd));
    T(open(dir, O_WRONLY));
    T(open(path, O_RDONLY | O_DIRECTORY));
    T(read(99, buf, 1));
    T(write(-1, buf, 1));
    T(unlink(path));
}

int main(void) {
    body("/tmp");
    body("/data");
    T(lseek(1, 0, SEEK_CUR) == -1 ? -errno : 0);
    return 0;
}
