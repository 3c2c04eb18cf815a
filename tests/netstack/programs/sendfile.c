/* sendfile(2) and splice(2) into sockets, and read/write/readv/writev on them, as a web
   server sends a file: the bytes arrive in order on the other end. */
#include "check.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

int main(void) {
    int sv[2], p[2];
    char buf[256];
    int f = open("/tmp/source", O_CREAT | O_RDWR | O_TRUNC, 0644);
    for (int i = 0; i < 100; i++) dprintf(f, "line %03d\n", i);
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    off_t off = 0;
    T(sendfile(sv[0], f, &off, 95));
    printf("offset %ld\n", (long)off);
    T(read(sv[1], buf, sizeof buf));
    printf("%.18s\n", buf + 72);
    T(lseek(f, 90, SEEK_SET));
    T(sendfile(sv[0], f, NULL, 9));
    T(recv(sv[1], buf, sizeof buf, 0));
    printf("%.9s", buf);
    T(pipe(p));
    T(write(p[1], "through a pipe\n", 15));
    T(splice(p[0], NULL, sv[0], NULL, 15, 0));
    T(read(sv[1], buf, sizeof buf));
    printf("%.15s", buf);
    T(write(sv[0], "spliced back\n", 13));
    T(splice(sv[1], NULL, p[1], NULL, 64, 0));
    T(read(p[0], buf, sizeof buf));
    printf("%.13s", buf);
    struct iovec iov[2] = {{"vec", 3}, {"tored\n", 6}};
    T(writev(sv[0], iov, 2));
    char a[4] = {0}, b[8] = {0};
    struct iovec in[2] = {{a, 3}, {b, 6}};
    T(readv(sv[1], in, 2));
    printf("%s%s", a, b);
    int dg[2];
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg));
    T(write(dg[0], "", 0));
    T(read(dg[1], buf, sizeof buf));
    T(read(dg[1], buf, 0));
    return 0;
}
