/* UDP over 127.0.0.1 and ::1: unconnected and connected sockets, sender addresses, several
   clients, truncation, empty datagrams, ECONNREFUSED on a connected socket, EDESTADDRREQ,
   EMSGSIZE, AF_UNSPEC disconnect, SO_REUSEADDR, recvmmsg/sendmmsg. Ephemeral ports only. */
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int family;
static socklen_t addrlen;

static void loopback(struct sockaddr_storage *s, int port) {
    memset(s, 0, sizeof *s);
    if (family == AF_INET) {
        struct sockaddr_in *a = (void *)s;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
    } else {
        struct sockaddr_in6 *a = (void *)s;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
    }
}

static int port_of(struct sockaddr_storage *s) {
    return ntohs(s->ss_family == AF_INET ? ((struct sockaddr_in *)s)->sin_port : ((struct sockaddr_in6 *)s)->sin6_port);
}

static int bound(struct sockaddr_storage *s) {
    int fd = socket(family, SOCK_DGRAM, 0);
    loopback(s, 0);
    bind(fd, (struct sockaddr *)s, addrlen);
    socklen_t len = sizeof *s;
    getsockname(fd, (struct sockaddr *)s, &len);
    return fd;
}

static void run(void) {
    struct sockaddr_storage srv_addr, from, tmp;
    socklen_t len;
    char buf[256];
    int v;
    printf("=== family %d\n", family);
    int srv = bound(&srv_addr);

    /* four clients, each answered at the address it sent from */
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        if ((kids[i] = fork()) == 0) {
            int fd = socket(family, SOCK_DGRAM, 0);
            char msg[8];
            int m = snprintf(msg, sizeof msg, "%d", i);
            if (sendto(fd, msg, m, 0, (struct sockaddr *)&srv_addr, addrlen) != m) _exit(1);
            if (recv(fd, buf, sizeof buf, 0) != m + 3 || memcmp(buf, "re:", 3) || memcmp(buf + 3, msg, m)) _exit(2);
            _exit(0);
        }
    }
    int mask = 0;
    for (int i = 0; i < 4; i++) {
        len = sizeof from;
        ssize_t r = recvfrom(srv, buf + 3, sizeof buf - 3, 0, (struct sockaddr *)&from, &len);
        mask |= 1 << (buf[3] - '0');
        memcpy(buf, "re:", 3);
        sendto(srv, buf, r + 3, 0, (struct sockaddr *)&from, len);
    }
    printf("server saw mask %x\n", mask);
    for (int i = 0; i < 4; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        printf("client %d exit %d\n", i, WEXITSTATUS(status));
    }

    /* addresses, truncation, peeking, empty datagrams */
    int c = socket(family, SOCK_DGRAM, 0);
    len = sizeof tmp;
    T(getsockname(c, (struct sockaddr *)&tmp, &len));
    printf("unbound port %d len %d\n", port_of(&tmp), len);
    T(sendto(c, "0123456789", 10, 0, (struct sockaddr *)&srv_addr, addrlen));
    len = sizeof tmp;
    T(getsockname(c, (struct sockaddr *)&tmp, &len));
    printf("autobound %d\n", port_of(&tmp) != 0);
    T(ioctl(srv, FIONREAD, &v));
    printf("fionread %d\n", v);
    len = sizeof from;
    T(recvfrom(srv, buf, 4, MSG_PEEK, (struct sockaddr *)&from, &len));
    printf("from the client %d len %d\n", port_of(&from) == port_of(&tmp), len);
    struct iovec iov = {buf, 4};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    T(recvmsg(srv, &mh, 0));
    printf("msg_flags %x\n", mh.msg_flags);
    T(sendto(c, "", 0, 0, (struct sockaddr *)&srv_addr, addrlen));
    T(recv(srv, buf, sizeof buf, 0));
    T(sendto(c, "abc", 3, 0, (struct sockaddr *)&srv_addr, addrlen));
    T(recv(srv, buf, 1, MSG_TRUNC));
    T(recv(srv, buf, sizeof buf, MSG_DONTWAIT));

    /* errors of sending */
    T(send(c, "x", 1, 0));
    T(sendto(c, "x", 1, 0, (struct sockaddr *)&srv_addr, addrlen - 1 - (family == AF_INET6) * 4));
    static char big[70000];
    T(sendto(c, big, 65508, 0, (struct sockaddr *)&srv_addr, addrlen));
    T(sendto(c, big, 65507, 0, (struct sockaddr *)&srv_addr, addrlen) == 65507 || errno == EMSGSIZE);
    recv(srv, big, sizeof big, MSG_DONTWAIT);
    loopback(&tmp, 0);
    T(sendto(c, "x", 1, 0, (struct sockaddr *)&tmp, addrlen));
    T(sendto(c, "x", 1, MSG_OOB, (struct sockaddr *)&srv_addr, addrlen));

    /* connected: only the peer's datagrams arrive; a dead port gives ECONNREFUSED */
    int other = bound(&tmp);
    T(connect(c, (struct sockaddr *)&srv_addr, addrlen));
    len = sizeof from;
    T(getpeername(c, (struct sockaddr *)&from, &len));
    printf("peer is server %d\n", port_of(&from) == port_of(&srv_addr));
    len = sizeof tmp;
    getsockname(c, (struct sockaddr *)&tmp, &len);
    T(sendto(other, "stranger", 8, 0, (struct sockaddr *)&tmp, addrlen));
    T(sendto(srv, "server", 6, 0, (struct sockaddr *)&tmp, addrlen));
    T(recv(c, buf, sizeof buf, 0));
    T(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    T(send(c, "hi", 2, 0));
    T(recv(srv, buf, sizeof buf, 0));
    struct sockaddr_storage dead;
    int gone = bound(&dead);
    close(gone);
    T(connect(c, (struct sockaddr *)&dead, addrlen));
    T(send(c, "x", 1, 0));
    struct pollfd p = {c, POLLIN | POLLOUT, 0};
    T(poll(&p, 1, 0));
    printf("refused revents %x\n", p.revents);
    T(recv(c, buf, 1, MSG_DONTWAIT));
    T(recv(c, buf, 1, MSG_DONTWAIT));
    T(send(c, "x", 1, 0));
    T(send(c, "x", 1, 0));
    len = sizeof v;
    T(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error %d\n", v);
    struct sockaddr unspec = {AF_UNSPEC};
    T(connect(c, &unspec, sizeof unspec));
    T(send(c, "x", 1, 0));
    len = sizeof from;
    T(getpeername(c, (struct sockaddr *)&from, &len));
    T(shutdown(c, SHUT_RD));
    T(recv(c, buf, 1, MSG_DONTWAIT));

    /* two sockets on one port need SO_REUSEADDR on both */
    int r1 = socket(family, SOCK_DGRAM, 0), r2 = socket(family, SOCK_DGRAM, 0);
    struct sockaddr_storage shared;
    int holder = bound(&shared);
    close(holder);
    T(bind(r1, (struct sockaddr *)&shared, addrlen));
    T(bind(r2, (struct sockaddr *)&shared, addrlen));
    v = 1;
    close(r1);
    r1 = socket(family, SOCK_DGRAM, 0);
    T(setsockopt(r1, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
    T(setsockopt(r2, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
    T(bind(r1, (struct sockaddr *)&shared, addrlen));
    T(bind(r2, (struct sockaddr *)&shared, addrlen));

    /* sendmmsg and recvmmsg */
    struct mmsghdr msgs[3];
    struct iovec iovs[3];
    char bufs[3][16];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 3; i++) {
        snprintf(bufs[i], sizeof bufs[i], "batch %d", i);
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = strlen(bufs[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &srv_addr;
        msgs[i].msg_hdr.msg_namelen = addrlen;
    }
    T(sendmmsg(other, msgs, 3, 0));
    printf("msg_len %u %u %u\n", msgs[0].msg_len, msgs[1].msg_len, msgs[2].msg_len);
    memset(bufs, 0, sizeof bufs);
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_len = sizeof bufs[i];
        msgs[i].msg_hdr.msg_name = NULL;
        msgs[i].msg_hdr.msg_namelen = 0;
    }
    T(recvmmsg(srv, msgs, 3, MSG_WAITFORONE, NULL));
    printf("got %s / %s / %s\n", bufs[0], bufs[1], bufs[2]);
    T(sendto(other, "one", 3, 0, (struct sockaddr *)&srv_addr, addrlen));
    T(recvmmsg(srv, msgs, 3, MSG_WAITFORONE, NULL));
    T(recvmmsg(srv, msgs, 3, MSG_DONTWAIT, NULL));
    close(srv); close(other); close(c); close(r1); close(r2);
}

int main(void) {
    family = AF_INET;
    addrlen = sizeof(struct sockaddr_in);
    run();
    family = AF_INET6;
    addrlen = sizeof(struct sockaddr_in6);
    run();

    /* a dual-stack socket hears IPv4; v6only and mapped addresses */
    int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 any = {AF_INET6};
    T(bind(s6, (struct sockaddr *)&any, sizeof any));
    socklen_t len = sizeof any;
    getsockname(s6, (struct sockaddr *)&any, &len);
    int s4 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {AF_INET, any.sin6_port, {htonl(INADDR_LOOPBACK)}};
    T(sendto(s4, "v4", 2, 0, (struct sockaddr *)&to, sizeof to));
    struct sockaddr_in6 from;
    char text[64], buf[16];
    len = sizeof from;
    T(recvfrom(s6, buf, sizeof buf, 0, (struct sockaddr *)&from, &len));
    inet_ntop(AF_INET6, &from.sin6_addr, text, sizeof text);
    printf("v4 sender seen as %s len %d\n", text, len);
    T(sendto(s6, "back", 4, 0, (struct sockaddr *)&from, sizeof from));
    T(recv(s4, buf, sizeof buf, 0));
    T(sendto(s6, "direct", 6, 0, (struct sockaddr *)&to, sizeof to));
    T(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
    return 0;
}
