/* TCP over 127.0.0.1 and ::1: an echo server with several clients, names, EADDRINUSE and
   SO_REUSEADDR, ECONNREFUSED, half-close, ECONNRESET, EPIPE, SO_LINGER, options read back,
   v4-mapped addresses and IPV6_V6ONLY. Ports are ephemeral (the host's loopback is shared
   with other tests); only the parent prints. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int family;
static socklen_t addrlen;
static int sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

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
    return ntohs(family == AF_INET ? ((struct sockaddr_in *)s)->sin_port : ((struct sockaddr_in6 *)s)->sin6_port);
}

static void show(const char *what, struct sockaddr_storage *s, socklen_t len, int port) {
    char text[64];
    if (s->ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)s)->sin_addr, text, sizeof text);
    else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)s)->sin6_addr, text, sizeof text);
    printf("%s: family %d len %d addr %s port %s\n", what, s->ss_family, len, text,
           port < 0 ? (port_of(s) ? "ephemeral" : "0") : (port_of(s) == port ? "same" : "other"));
}

/* A listener on loopback's port 0; its port goes into *port. */
static int listener(int *port, int backlog) {
    struct sockaddr_storage s;
    int fd = socket(family, SOCK_STREAM, 0);
    loopback(&s, 0);
    if (bind(fd, (struct sockaddr *)&s, addrlen) < 0 || listen(fd, backlog) < 0) return -1;
    socklen_t len = sizeof s;
    getsockname(fd, (struct sockaddr *)&s, &len);
    *port = port_of(&s);
    return fd;
}

static int connect_to(int port) {
    struct sockaddr_storage s;
    int fd = socket(family, SOCK_STREAM, 0);
    loopback(&s, port);
    if (connect(fd, (struct sockaddr *)&s, addrlen) < 0) return -1;
    return fd;
}

static int client(int port, int n) {
    int fd = connect_to(port);
    if (fd < 0) return 10;
    char msg[64], buf[64];
    int m = snprintf(msg, sizeof msg, "request %d", n);
    if (write(fd, msg, m) != m) return 11;
    shutdown(fd, SHUT_WR);
    int got = 0, r;
    while ((r = read(fd, buf + got, sizeof buf - got)) > 0) got += r;
    if (got != m + 5 || memcmp(buf, "echo ", 5) || memcmp(buf + 5, msg, m)) return 12;
    return 0;
}

static void run(void) {
    int port, v;
    socklen_t len;
    char buf[256];
    struct sockaddr_storage s, t;
    printf("=== family %d\n", family);

    /* an echo server and four clients that half-close after their request */
    int srv = listener(&port, 16);
    printf("listener %d\n", srv >= 0);
    pid_t kids[4];
    for (int i = 0; i < 4; i++)
        if ((kids[i] = fork()) == 0) _exit(client(port, i));
    for (int i = 0; i < 4; i++) {
        len = sizeof s;
        int c = accept(srv, (struct sockaddr *)&s, &len);
        int got = 0, r;
        while ((r = read(c, buf + 5 + got, 100)) > 0) got += r;
        memcpy(buf, "echo ", 5);
        write(c, buf, got + 5);
        close(c);
    }
    for (int i = 0; i < 4; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        printf("client %d exit %d\n", i, WEXITSTATUS(status));
    }

    /* names on both ends */
    int c = connect_to(port);
    len = sizeof s;
    int a = accept(srv, (struct sockaddr *)&s, &len);
    show("accept peer", &s, len, -1);
    len = sizeof s;
    T(getsockname(c, (struct sockaddr *)&s, &len));
    show("client name", &s, len, -1);
    len = sizeof t;
    T(getpeername(a, (struct sockaddr *)&t, &len));
    printf("accepted peer is client %d\n", port_of(&s) == port_of(&t));
    len = sizeof s;
    T(getpeername(c, (struct sockaddr *)&s, &len));
    show("client peer", &s, len, port);
    len = sizeof s;
    T(getsockname(a, (struct sockaddr *)&s, &len));
    show("accepted name", &s, len, port);
    len = sizeof s;
    T(getpeername(srv, (struct sockaddr *)&s, &len));
    len = 4;
    T(getsockname(a, (struct sockaddr *)&s, &len));
    printf("short buffer: len %d\n", len);

    /* data: peek, waitall, FIONREAD, SIOCOUTQ, MSG_TRUNC discards */
    T(write(c, "0123456789", 10));
    T(recv(a, buf, 4, MSG_PEEK));
    T(ioctl(a, FIONREAD, &v));
    printf("fionread %d\n", v);
    T(recv(a, buf, 4, MSG_TRUNC));
    T(recv(a, buf, sizeof buf, 0));
    printf("rest %.6s\n", buf);
    T(recv(a, buf, sizeof buf, MSG_DONTWAIT));
    T(ioctl(srv, FIONREAD, &v));
    T(recv(srv, buf, 1, 0));
    T(send(srv, buf, 1, MSG_NOSIGNAL));

    /* options set and read back */
    v = 1;
    T(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v));
    len = sizeof v;
    T(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len));
    printf("nodelay %d\n", v);
    v = 1;
    T(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
    T(getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, &len));
    printf("keepalive %d\n", v);
    v = 30;
    T(setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
    T(getsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len));
    printf("keepidle %d\n", v);
    T(getsockopt(c, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len));
    printf("keepintvl %d\n", v);
    T(getsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &v, &len));
    printf("keepcnt %d\n", v);
    v = 0;
    T(setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
    v = 200;
    T(setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v));
    T(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, 2));
    T(setsockopt(c, IPPROTO_TCP, 9999, &v, sizeof v));
    T(setsockopt(c, 9999, 1, &v, sizeof v));
    T(getsockopt(c, IPPROTO_TCP, 9999, &v, &len));
    v = 8192;
    T(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    T(getsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, &len));
    printf("rcvbuf %d\n", v);
    T(getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &len));
    printf("type %d\n", v);
    T(getsockopt(c, SOL_SOCKET, SO_PROTOCOL, &v, &len));
    printf("protocol %d\n", v);
    T(getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
    printf("acceptconn %d\n", v);
    T(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("error %d\n", v);
    struct timeval tv = {1, 500000};
    T(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    len = sizeof tv;
    T(getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, &len));
    printf("rcvtimeo %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    T(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, 3));
    struct tcp_info info;
    len = sizeof info;
    T(getsockopt(c, IPPROTO_TCP, TCP_INFO, &info, &len));
    printf("tcp_info state %d\n", info.tcpi_state);
    v = 16;
    if (family == AF_INET) {
        T(setsockopt(c, IPPROTO_IP, IP_TOS, &v, sizeof v));
        len = sizeof v;
        T(getsockopt(c, IPPROTO_IP, IP_TOS, &v, &len));
        printf("tos %d\n", v);
        T(getsockopt(c, IPPROTO_IP, IP_TTL, &v, &len));
        printf("ttl %d\n", v);
        v = 0;
        T(setsockopt(c, IPPROTO_IP, IP_TTL, &v, sizeof v));
    } else {
        T(setsockopt(c, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof v));
        len = sizeof v;
        T(getsockopt(c, IPPROTO_IPV6, IPV6_TCLASS, &v, &len));
        printf("tclass %d\n", v);
        T(getsockopt(c, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, &len));
        printf("hops %d\n", v);
        T(getsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len));
        printf("v6only %d\n", v);
        T(setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));
    }

    /* half-close both ways, then EPIPE with SIGPIPE */
    T(shutdown(c, SHUT_WR));
    T(read(a, buf, sizeof buf));
    T(write(a, "late", 4));
    T(read(c, buf, sizeof buf));
    struct pollfd p = {c, POLLIN | POLLOUT | POLLRDHUP, 0};
    T(poll(&p, 1, 0));
    printf("half-closed writer revents %x\n", p.revents);
    T(write(c, "x", 1));
    printf("sigpipes %d\n", sigpipes);
    T(send(c, "x", 1, MSG_NOSIGNAL));
    printf("sigpipes %d\n", sigpipes);
    T(shutdown(a, SHUT_WR));
    T(read(c, buf, sizeof buf));
    close(a);
    close(c);

    /* unread data makes close an RST: ECONNRESET on the other side */
    c = connect_to(port);
    a = accept(srv, NULL, NULL);
    T(write(c, "unread", 6));
    usleep(20000);
    close(a);
    usleep(20000);
    p.fd = c; p.events = POLLIN | POLLOUT;
    T(poll(&p, 1, 0));
    printf("reset revents %x\n", p.revents);
    T(read(c, buf, sizeof buf));
    T(read(c, buf, sizeof buf));
    T(write(c, "x", 1));
    len = sizeof s;
    T(getpeername(c, (struct sockaddr *)&s, &len));
    close(c);

    /* writing to a peer that closed: the first write goes, the RST makes the next EPIPE */
    c = connect_to(port);
    a = accept(srv, NULL, NULL);
    close(a);
    usleep(20000);
    T(read(c, buf, sizeof buf));
    T(write(c, "x", 1));
    usleep(20000);
    T(write(c, "x", 1));
    T(read(c, buf, sizeof buf));
    close(c);

    /* SO_LINGER with a zero timeout resets at close */
    c = connect_to(port);
    a = accept(srv, NULL, NULL);
    struct linger lg = {1, 0};
    T(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    len = sizeof lg;
    T(getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &len));
    printf("linger %d %d\n", lg.l_onoff, lg.l_linger);
    close(c);
    usleep(20000);
    T(read(a, buf, sizeof buf));
    close(a);

    /* binding: EADDRINUSE, SO_REUSEADDR, EINVAL twice, EADDRNOTAVAIL, port 0 twice */
    int b1 = socket(family, SOCK_STREAM, 0), b2 = socket(family, SOCK_STREAM, 0);
    loopback(&s, port);
    T(bind(b1, (struct sockaddr *)&s, addrlen));
    v = 1;
    T(setsockopt(b1, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
    T(bind(b1, (struct sockaddr *)&s, addrlen));
    int free_port;
    int held = listener(&free_port, 1);
    close(held);
    loopback(&s, free_port);
    T(bind(b1, (struct sockaddr *)&s, addrlen));
    T(setsockopt(b2, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
    T(bind(b2, (struct sockaddr *)&s, addrlen));
    T(listen(b1, 1));
    T(listen(b2, 1));
    T(bind(b1, (struct sockaddr *)&s, addrlen));
    close(b1); close(b2);
    b1 = socket(family, SOCK_STREAM, 0);
    if (family == AF_INET) {
        struct sockaddr_in *in = (void *)&s;
        in->sin_addr.s_addr = inet_addr("192.0.2.1");
    } else {
        inet_pton(AF_INET6, "2001:db8::1", &((struct sockaddr_in6 *)&s)->sin6_addr);
    }
    T(bind(b1, (struct sockaddr *)&s, addrlen));
    loopback(&s, 0);
    T(bind(b1, (struct sockaddr *)&s, addrlen - 1));
    s.ss_family = family == AF_INET ? AF_INET6 : AF_INET;
    T(bind(b1, (struct sockaddr *)&s, addrlen));
    close(b1);

    /* refused: a port bound but not listening */
    b1 = socket(family, SOCK_STREAM, 0);
    loopback(&s, 0);
    bind(b1, (struct sockaddr *)&s, addrlen);
    len = sizeof s;
    getsockname(b1, (struct sockaddr *)&s, &len);
    c = socket(family, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&s, addrlen));
    T(connect(c, (struct sockaddr *)&s, addrlen));
    T(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, (len = sizeof v, &len)));
    printf("error after refusal %d\n", v);
    T(read(c, buf, 1));
    T(write(c, "x", 1));
    close(c); close(b1);

    /* states: connect twice, a listener's connect, listen on a connected socket */
    c = connect_to(port);
    a = accept(srv, NULL, NULL);
    loopback(&s, port);
    T(connect(c, (struct sockaddr *)&s, addrlen));
    T(listen(c, 1));
    T(connect(srv, (struct sockaddr *)&s, addrlen));
    T(accept(c, NULL, NULL));
    T(shutdown(socket(family, SOCK_STREAM, 0), SHUT_RD));
    T(shutdown(c, 3));
    close(a); close(c);

    /* a listener with connections it never accepted resets them at close */
    c = connect_to(port);
    usleep(20000);
    close(srv);
    usleep(20000);
    T(read(c, buf, 1));
    T(connect_to(port));
    close(c);
}

int main(void) {
    signal(SIGPIPE, on_sigpipe);
    family = AF_INET;
    addrlen = sizeof(struct sockaddr_in);
    run();
    family = AF_INET6;
    addrlen = sizeof(struct sockaddr_in6);
    run();

    /* v4-mapped addresses: a dual-stack listener (on ::) takes IPv4 clients */
    int port;
    int srv = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any = {AF_INET6};
    T(bind(srv, (struct sockaddr *)&any, sizeof any));
    T(listen(srv, 4));
    socklen_t alen = sizeof any;
    getsockname(srv, (struct sockaddr *)&any, &alen);
    port = ntohs(any.sin6_port);
    struct sockaddr_in in = {AF_INET, htons(port), {htonl(INADDR_LOOPBACK)}};
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage s;
    socklen_t len = sizeof s;
    T(connect(c, (struct sockaddr *)&in, sizeof in));
    int a = accept(srv, (struct sockaddr *)&s, &len);
    show("v4 client seen by v6 listener", &s, len, -1);
    len = sizeof s;
    T(getsockname(a, (struct sockaddr *)&s, &len));
    show("v6 side name", &s, len, port);
    close(a); close(c);
    struct sockaddr_in6 mapped = {AF_INET6, htons(port)};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&mapped, sizeof mapped));
    len = sizeof s;
    T(getsockname(c, (struct sockaddr *)&s, &len));
    show("mapped client name", &s, len, -1);
    close(accept(srv, NULL, NULL));
    close(c);
    close(srv);
    int only = socket(AF_INET6, SOCK_STREAM, 0), v = 1;
    T(setsockopt(only, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));
    /* A port free on 127.0.0.1 too: a v6-only socket's ephemeral port may be one an IPv4
     * socket of the host holds, and natively the IPv4 bind below then fails. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in free4 = {AF_INET, 0, {htonl(INADDR_LOOPBACK)}};
    socklen_t flen = sizeof free4;
    bind(probe, (struct sockaddr *)&free4, sizeof free4);
    getsockname(probe, (struct sockaddr *)&free4, &flen);
    close(probe);
    struct sockaddr_in6 any6 = {AF_INET6, free4.sin_port};
    T(bind(only, (struct sockaddr *)&any6, sizeof any6));
    len = sizeof s;
    getsockname(only, (struct sockaddr *)&s, &len);
    T(listen(only, 1));
    in.sin_port = ((struct sockaddr_in6 *)&s)->sin6_port;
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&in, sizeof in));
    int v4 = socket(AF_INET, SOCK_STREAM, 0);
    T(bind(v4, (struct sockaddr *)&in, sizeof in));
    T(setsockopt(only, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));
    c = socket(AF_INET6, SOCK_STREAM, 0);
    T(setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));
    T(connect(c, (struct sockaddr *)&mapped, sizeof mapped));
    T(bind(c, (struct sockaddr *)&mapped, sizeof mapped));
    T(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    T(socket(AF_INET, SOCK_SEQPACKET, 0) >= 0 || errno == ESOCKTNOSUPPORT);
    return 0;
}
