/* UDP out of the sandbox: to a host address given on the command line, where the test runs a
   UDP echo server (it answers each datagram with its bytes reversed) and keeps a port with
   nobody bound (the host answers ICMP port unreachable). Unconnected sendto/recvfrom with the
   sender's address, a connected socket, poll readiness, and the refused port's ECONNREFUSED on
   a connected socket. Without arguments it prints nothing (the differential suite builds every
   program). Usage: egress_udp HOST ECHO_PORT REFUSED_PORT */
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static struct sockaddr_in at(const char *host, const char *port) {
    struct sockaddr_in a = {AF_INET, htons(atoi(port)), {0}};
    inet_pton(AF_INET, host, &a.sin_addr);
    return a;
}

static void wait_readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 10000);
    printf("poll %d revents %x\n", n, p.revents);
}

int main(int argc, char **argv) {
    if (argc < 4) return 0;
    struct sockaddr_in echo = at(argv[1], argv[2]), refused = at(argv[1], argv[3]), from;
    socklen_t flen = sizeof from;
    char buf[64];

    /* unconnected: two datagrams out, two answers back from the server's address */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    T(sendto(u, "hello", 5, 0, (struct sockaddr *)&echo, sizeof echo));
    T(sendto(u, "world!", 6, 0, (struct sockaddr *)&echo, sizeof echo));
    for (int i = 0; i < 2; i++) {
        wait_readable(u);
        int n = recvfrom(u, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &flen);
        buf[n < 0 ? 0 : n] = 0;
        printf("answer %d %s from the server %d\n", n, buf,
               from.sin_addr.s_addr == echo.sin_addr.s_addr && from.sin_port == echo.sin_port);
    }
    /* truncated: MSG_TRUNC gives the datagram's length */
    T(sendto(u, "abcdefgh", 8, 0, (struct sockaddr *)&echo, sizeof echo));
    wait_readable(u);
    int n = recv(u, buf, 3, MSG_TRUNC);
    printf("truncated %d %.3s\n", n, buf);
    T(close(u));

    /* connected: send/recv, getpeername */
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    T(connect(c, (struct sockaddr *)&echo, sizeof echo));
    T(send(c, "ping", 4, 0));
    wait_readable(c);
    n = recv(c, buf, sizeof buf - 1, 0);
    buf[n < 0 ? 0 : n] = 0;
    printf("connected answer %d %s\n", n, buf);
    T(close(c));

    /* a connected socket learns of the unreachable port: ECONNREFUSED, once */
    c = socket(AF_INET, SOCK_DGRAM, 0);
    T(connect(c, (struct sockaddr *)&refused, sizeof refused));
    T(send(c, "anyone?", 7, 0));
    struct pollfd p = {c, POLLIN, 0};
    T(poll(&p, 1, 10000));
    printf("refused revents %x\n", p.revents);
    T(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    T(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    T(close(c));
    return 0;
}
