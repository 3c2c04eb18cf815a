/* socketpair: ping-pong between a parent and a child over each type, then the error cases. */
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void pingpong(int type, const char *name) {
    int sv[2];
    char buf[64];
    T(socketpair(AF_UNIX, type, 0, sv));
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        for (int i = 0; i < 5; i++) {
            ssize_t n = read(sv[1], buf, sizeof buf);
            if (n <= 0) _exit(1);
            buf[0]++;
            if (write(sv[1], buf, n) != n) _exit(2);
        }
        _exit(0);
    }
    close(sv[1]);
    buf[0] = 'a';
    memcpy(buf + 1, "-ball", 5);
    for (int i = 0; i < 5; i++) {
        ssize_t w = write(sv[0], buf, 6);
        ssize_t r = read(sv[0], buf, sizeof buf);
        printf("%s round %d: wrote %zd read %zd %.6s\n", name, i, w, r, buf);
        buf[0]++;
    }
    int status;
    waitpid(child, &status, 0);
    printf("%s child exit %d\n", name, WEXITSTATUS(status));
    T(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT)); /* end of file, or EAGAIN for datagrams */
    close(sv[0]);
}

int main(void) {
    int sv[2], v;
    socklen_t len;
    char buf[32];
    signal(SIGPIPE, SIG_IGN);
    pingpong(SOCK_STREAM, "stream");
    pingpong(SOCK_DGRAM, "dgram");
    pingpong(SOCK_SEQPACKET, "seqpacket");

    /* types, options and what fstat says */
    T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
    T(fcntl(sv[0], F_GETFD));
    T(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    T(read(sv[0], buf, 1));
    len = sizeof v;
    T(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
    printf("type %d len %d\n", v, len);
    T(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len));
    printf("domain %d\n", v);
    T(getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
    printf("acceptconn %d\n", v);
    struct stat st;
    T(fstat(sv[0], &st));
    printf("socket %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    T(write(sv[1], "xyz", 3));
    T(ioctl(sv[0], FIONREAD, &v));
    printf("fionread %d\n", v);
    T(shutdown(sv[1], SHUT_WR));
    T(read(sv[0], buf, sizeof buf));
    T(read(sv[0], buf, sizeof buf));
    T(write(sv[1], "x", 1));
    T(send(sv[1], "x", 1, MSG_NOSIGNAL));
    T(shutdown(sv[1], 7));
    close(sv[0]);
    T(write(sv[1], "x", 1));
    close(sv[1]);

    /* a raw unix socket is a datagram one; errors of socketpair */
    T(socketpair(AF_UNIX, SOCK_RAW, 0, sv));
    len = sizeof v;
    T(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
    printf("raw type %d\n", v);
    T(socketpair(AF_INET, SOCK_STREAM, 0, sv));
    T(socketpair(AF_UNIX, SOCK_STREAM, 5, sv));
    T(socketpair(AF_UNIX, 9, 0, sv));
    T(socketpair(AF_UNIX, SOCK_STREAM | 0x100000, 0, sv));
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)8));
    T(socketpair(1234, SOCK_STREAM, 0, sv));
    T(socketpair(AF_UNIX, 77, 0, sv));
    T(read(0, buf, 0) >= 0);
    T(send(0, "x", 1, 0));
    T(send(99, "x", 1, 0));
    return 0;
}
