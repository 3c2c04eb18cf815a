/* A connection out of the sandbox: to a host address given on the command line, where the test
   runs an echo server (it reads to end of file, answers with the bytes reversed, and closes)
   and keeps a port that refuses. Blocking and non-blocking connect, SO_ERROR, poll and epoll
   readiness, half-close, a refused connect. Without arguments it prints nothing (the
   differential suite builds every program). Usage: egress HOST ECHO_PORT REFUSED_PORT */
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static struct sockaddr_in at(const char *host, const char *port) {
    struct sockaddr_in a = {AF_INET, htons(atoi(port)), {0}};
    inet_pton(AF_INET, host, &a.sin_addr);
    return a;
}

static void answer(int fd) {
    char buf[64];
    int n, total = 0;
    while ((n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += n;
    buf[total] = 0;
    printf("answer %s (last read %d)\n", buf, n);
}

int main(int argc, char **argv) {
    if (argc < 4) return 0;
    struct sockaddr_in echo = at(argv[1], argv[2]), refused = at(argv[1], argv[3]);
    int v;
    socklen_t len = sizeof v;

    /* blocking: connect, send, half-close, read the answer to its end */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&echo, sizeof echo));
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    T(getpeername(c, (struct sockaddr *)&peer, &plen));
    printf("peer is the server %d\n", peer.sin_addr.s_addr == echo.sin_addr.s_addr && peer.sin_port == echo.sin_port);
    T(write(c, "hello", 5));
    T(shutdown(c, SHUT_WR));
    T(send(c, "more", 4, MSG_NOSIGNAL));
    answer(c);
    T(close(c));

    /* non-blocking: EINPROGRESS, then writable and SO_ERROR 0; EISCONN after */
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(c, (struct sockaddr *)&echo, sizeof echo));
    struct pollfd p = {c, POLLOUT, 0};
    T(poll(&p, 1, 10000));
    printf("connected revents %x\n", p.revents);
    T(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error %s\n", v ? errname(v) : "0");
    T(connect(c, (struct sockaddr *)&echo, sizeof echo));
    T(write(c, "ping", 4));
    T(shutdown(c, SHUT_WR));
    int ep = epoll_create1(0);
    struct epoll_event ev = {EPOLLIN | EPOLLRDHUP, {.fd = c}}, got;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
    T(epoll_wait(ep, &got, 1, 10000));
    printf("epoll readable %d\n", (got.events & EPOLLIN) != 0);
    char buf[16] = {0};
    int n;
    while ((n = read(c, buf, sizeof buf - 1)) < 0 && errno == EAGAIN) poll(&(struct pollfd){c, POLLIN, 0}, 1, 10000);
    printf("read %d %s\n", n, buf);
    while ((n = read(c, buf, sizeof buf)) < 0 && errno == EAGAIN) poll(&(struct pollfd){c, POLLIN, 0}, 1, 10000);
    printf("then %d\n", n);
    T(close(c));
    T(close(ep));

    /* refused: EINPROGRESS, then POLLERR and SO_ERROR ECONNREFUSED, then ECONNABORTED */
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(c, (struct sockaddr *)&refused, sizeof refused));
    p.fd = c;
    T(poll(&p, 1, 10000));
    printf("refused revents %x\n", p.revents);
    T(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error %s\n", v ? errname(v) : "0");
    T(connect(c, (struct sockaddr *)&refused, sizeof refused));
    T(close(c));
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&refused, sizeof refused));
    T(close(c));
    return 0;
}
