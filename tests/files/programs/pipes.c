/* A pipe within one process: ordering, FIONREAD, O_NONBLOCK, capacity, end of file. */
#include "check.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

int main(void) {
    int p[2], n = -1;
    char buf[128] = {0};
    static char big[70000];
    T(pipe(p));
    printf("fds %d %d\n", p[0], p[1]);
    T(write(p[1], "hello ", 6));
    T(write(p[1], "pipe", 4));
    T(ioctl(p[0], FIONREAD, &n));
    printf("fionread %d\n", n);
    T(read(p[0], buf, 3));
    T(read(p[0], buf + 3, sizeof buf));
    printf("read: %s\n", buf);
    T(write(p[0], "x", 1));
    T(read(p[1], buf, 1));
    T(lseek(p[0], 0, SEEK_SET));
    struct stat st;
    T(fstat(p[0], &st));
    printf("fifo %d\n", S_ISFIFO(st.st_mode));
    T(fcntl(p[0], F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    T(fcntl(p[1], F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    T(fcntl(p[0], F_SETFL, O_NONBLOCK));
    T(read(p[0], buf, 1) == -1 && errno == EAGAIN);
    T(fcntl(p[1], F_SETFL, O_NONBLOCK));
    T(write(p[1], big, sizeof big));
    T(write(p[1], "y", 1) == -1 && errno == EAGAIN);
    long total = 0, r;
    while ((r = read(p[0], big, sizeof big)) > 0) total += r;
    printf("drained %ld\n", total);
    T(close(p[1]));
    T(read(p[0], buf, 1));
    T(close(p[0]));
    T(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    T(fcntl(p[0], F_GETFD));
    T(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    T(pipe2(p, 0x1234));
    T(pipe((int *)8));
    return 0;
}
