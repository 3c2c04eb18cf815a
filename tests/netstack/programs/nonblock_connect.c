/* Non-blocking TCP connect: EINPROGRESS, then writability and SO_ERROR tell how it went;
   EALREADY/EISCONN on a second connect; a refused one reports ECONNREFUSED once, then
   ECONNABORTED; a full accept queue; AF_UNIX connects say EAGAIN instead. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>

static int bound_port(int fd) {
    struct sockaddr_in a = {AF_INET, 0, {htonl(INADDR_LOOPBACK)}};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return a.sin_port;
}

int main(void) {
    int v;
    socklen_t len = sizeof v;
    char buf[16];
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {AF_INET, bound_port(srv), {htonl(INADDR_LOOPBACK)}};
    T(listen(srv, 0));

    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct pollfd p = {c, POLLOUT, 0};
    T(poll(&p, 1, 0));
    printf("fresh socket revents %x\n", p.revents);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    T(poll(&p, 1, 1000));
    printf("connected revents %x\n", p.revents);
    T(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error %d\n", v);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    fd_set w;
    FD_ZERO(&w);
    FD_SET(c, &w);
    struct timeval tv = {1, 0};
    T(select(c + 1, NULL, &w, NULL, &tv));
    printf("select writable %d\n", FD_ISSET(c, &w));
    T(write(c, "ping", 4));
    int s = accept(srv, NULL, NULL);
    T(read(s, buf, sizeof buf));

    /* the accept queue holds backlog + 1: the next connects wait (EINPROGRESS, not writable) */
    int d = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(d, (struct sockaddr *)&a, sizeof a));
    int e = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(e, (struct sockaddr *)&a, sizeof a));
    p.fd = e;
    T(poll(&p, 1, 100));
    printf("waiting connect revents %x\n", p.revents);
    T(connect(e, (struct sockaddr *)&a, sizeof a));
    T(write(e, "x", 1));
    close(accept(srv, NULL, NULL));
    T(poll(&p, 1, 5000));
    printf("admitted revents %x\n", p.revents);
    T(connect(e, (struct sockaddr *)&a, sizeof a));

    /* refused: writable with an error, SO_ERROR says why, then ECONNABORTED */
    int closed = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in nobody = {AF_INET, bound_port(closed), {htonl(INADDR_LOOPBACK)}};
    int r = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(r, (struct sockaddr *)&nobody, sizeof nobody));
    p.fd = r; p.events = POLLIN | POLLOUT;
    T(poll(&p, 1, 1000));
    printf("refused revents %x\n", p.revents);
    T(getsockopt(r, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error %s\n", errname(v));
    T(getsockopt(r, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error again %d\n", v);
    T(connect(r, (struct sockaddr *)&nobody, sizeof nobody));
    T(connect(r, (struct sockaddr *)&nobody, sizeof nobody));
    T(poll(&p, 1, 1000));
    T(connect(r, (struct sockaddr *)&nobody, sizeof nobody));
    T(connect(r, (struct sockaddr *)&a, sizeof a));
    T(connect(r, (struct sockaddr *)&a, sizeof a));

    /* AF_UNIX: EAGAIN when the backlog is full, never EINPROGRESS */
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un { unsigned short f; char p[108]; } un = {AF_UNIX, "\0nbconnect"};
    T(bind(u, (struct sockaddr *)&un, 12));
    T(listen(u, 0));
    int u1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0), u2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(u1, (struct sockaddr *)&un, 12));
    T(connect(u2, (struct sockaddr *)&un, 12));
    return 0;
}
