/* AF_UNIX datagram sockets: a server with several clients (path and abstract), sender
   addresses, connect and its EPERM, the receive queue's limit, truncation, EMSGSIZE,
   a closed peer, shutdown, and seqpacket message boundaries. Only the parent prints. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t path_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path, path);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path + 1, name);
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void describe(const char *what, struct sockaddr_un *a, socklen_t len) {
    int plen = (int)len - (int)offsetof(struct sockaddr_un, sun_path);
    printf("%s: len %d", what, len);
    if (plen > 0 && a->sun_path[0] == 0) printf(" abstract @%.*s", plen - 1, a->sun_path + 1);
    else if (plen > 0) printf(" path %s", a->sun_path);
    printf("\n");
}

/* A client bound to its own name sends its number and waits for the echo. */
static int client(struct sockaddr_un *server, socklen_t slen, int n) {
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un me;
    char name[32];
    snprintf(name, sizeof name, "/tmp/client%d.sock", n);
    if (bind(fd, (struct sockaddr *)&me, path_addr(&me, name)) < 0) return 10;
    char msg[16], buf[64];
    int m = snprintf(msg, sizeof msg, "%d", n);
    if (sendto(fd, msg, m, 0, (struct sockaddr *)server, slen) != m) return 11;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r != m + 5 || memcmp(buf, "echo ", 5) != 0 || memcmp(buf + 5, msg, m) != 0) return 12;
    return 0;
}

int main(void) {
    struct sockaddr_un a, b, from;
    socklen_t alen, blen, flen;
    char buf[256];
    int v;
    signal(SIGPIPE, SIG_IGN);

    /* a server answering four clients, each at the address it sent from */
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0);
    alen = path_addr(&a, "/tmp/dgram.sock");
    T(bind(srv, (struct sockaddr *)&a, alen));
    pid_t kids[4];
    for (int i = 0; i < 4; i++)
        if ((kids[i] = fork()) == 0) _exit(client(&a, alen, i));
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        flen = sizeof from;
        ssize_t r = recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (r <= 0) break;
        seen |= 1 << (buf[0] - '0');
        char out[64];
        int m = snprintf(out, sizeof out, "echo %.*s", (int)r, buf);
        sendto(srv, out, m, 0, (struct sockaddr *)&from, flen);
    }
    printf("server saw mask %x\n", seen);
    for (int i = 0; i < 4; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        printf("client %d exit %d\n", i, WEXITSTATUS(status));
    }

    /* sender addresses: a bound sender, an unbound one, an abstract one */
    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    T(sendto(c, "anon", 4, 0, (struct sockaddr *)&a, alen));
    flen = sizeof from;
    T(recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    printf("unbound sender addrlen %d\n", flen);
    blen = abstract_addr(&b, "dgram-client");
    T(bind(c, (struct sockaddr *)&b, blen));
    T(sendto(c, "named", 5, 0, (struct sockaddr *)&a, alen));
    flen = sizeof from;
    T(recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    describe("abstract sender", &from, flen);
    flen = 4;
    T(sendto(c, "short", 5, 0, (struct sockaddr *)&a, alen));
    T(recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    printf("short addr buffer: len %d\n", flen);

    /* truncation: MSG_TRUNC in msg_flags, and as a flag it returns the real length */
    T(sendto(c, "0123456789", 10, 0, (struct sockaddr *)&a, alen));
    T(sendto(c, "abcdefghij", 10, 0, (struct sockaddr *)&a, alen));
    T(ioctl(srv, FIONREAD, &v));
    printf("fionread %d\n", v);
    struct iovec iov = {buf, 4};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    T(recvmsg(srv, &mh, 0));
    printf("msg_flags %x\n", mh.msg_flags);
    T(recv(srv, buf, 3, MSG_TRUNC | MSG_PEEK));
    T(recv(srv, buf, 3, MSG_TRUNC));
    T(recv(srv, buf, 3, MSG_DONTWAIT));
    T(send(c, "x", 1, 0));
    T(sendto(srv, "x", 1, 0, NULL, 0));

    /* connect: the default destination, and a receiver connected elsewhere says EPERM */
    T(connect(c, (struct sockaddr *)&a, alen));
    T(send(c, "via connect", 11, 0));
    T(recv(srv, buf, sizeof buf, 0));
    int other = socket(AF_UNIX, SOCK_DGRAM, 0);
    T(connect(srv, (struct sockaddr *)&b, blen));
    T(sendto(other, "x", 1, 0, (struct sockaddr *)&a, alen));
    T(connect(other, (struct sockaddr *)&a, alen));
    T(send(c, "from the peer", 13, 0));
    T(recv(srv, buf, sizeof buf, MSG_DONTWAIT));
    struct sockaddr unspec = {AF_UNSPEC};
    T(connect(srv, &unspec, sizeof unspec));
    T(connect(other, (struct sockaddr *)&a, alen));
    T(connect(c, (struct sockaddr *)&a, 1));
    alen = path_addr(&b, "/tmp/none.sock");
    T(connect(c, (struct sockaddr *)&b, alen));
    alen = path_addr(&a, "/tmp/dgram.sock");

    /* the queue's limit: an unconnected sender gets EAGAIN after max_dgram_qlen + 1 */
    int filler = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sent = 0;
    while (sendto(filler, "q", 1, 0, (struct sockaddr *)&a, alen) == 1) sent++;
    printf("queued %d then %s\n", sent, errname(errno));
    struct pollfd p = {filler, POLLOUT, 0};
    T(poll(&p, 1, 0));
    int drained = 0;
    while (recv(srv, buf, sizeof buf, MSG_DONTWAIT) >= 0) drained++;
    printf("drained %d\n", drained);
    T(sendto(filler, "q", 1, 0, (struct sockaddr *)&a, alen));

    /* sizes: a datagram larger than the send buffer is EMSGSIZE; empty ones exist */
    static char big[300000];
    T(sendto(filler, big, sizeof big, 0, (struct sockaddr *)&a, alen));
    T(sendto(filler, big, 0, 0, (struct sockaddr *)&a, alen));
    T(recv(srv, buf, sizeof buf, 0));
    T(recv(srv, buf, sizeof buf, 0));
    T(recv(srv, buf, sizeof buf, MSG_DONTWAIT));

    /* a socketpair whose other end closed, and shutdown */
    int sv[2];
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    T(send(sv[0], "x", 1, 0));
    close(sv[1]);
    T(send(sv[0], "x", 1, 0));
    T(send(sv[0], "x", 1, 0));
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    T(shutdown(sv[1], SHUT_RD));
    T(send(sv[0], "x", 1, 0));
    T(recv(sv[1], buf, 1, MSG_DONTWAIT));
    T(recv(sv[1], buf, 1, 0));
    T(shutdown(sv[0], SHUT_WR));
    T(send(sv[0], "x", 1, 0));
    p.fd = sv[1]; p.events = POLLIN | POLLOUT;
    T(poll(&p, 1, 0));
    printf("shut revents %x\n", p.revents);

    /* seqpacket: boundaries kept, truncation, EOF when the peer closes */
    T(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    T(send(sv[0], "first", 5, 0));
    T(send(sv[0], "second!", 7, 0));
    T(recv(sv[1], buf, 3, 0));
    mh.msg_flags = 0;
    iov.iov_len = sizeof buf;
    T(recvmsg(sv[1], &mh, 0));
    printf("seqpacket msg_flags %x\n", mh.msg_flags);
    T(sendto(sv[0], "x", 1, 0, (struct sockaddr *)&a, alen));
    T(recv(sv[1], buf, sizeof buf, 0));
    close(sv[0]);
    T(recv(sv[1], buf, sizeof buf, 0));
    T(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    T(send(sv[1], "x", 1, 0));
    int sp = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    T(send(sp, "x", 1, 0));
    T(recv(sp, buf, 1, 0));
    return 0;
}
