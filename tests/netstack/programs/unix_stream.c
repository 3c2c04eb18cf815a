/* AF_UNIX stream and seqpacket servers: paths and the abstract namespace, several clients,
   listen/accept4, connect errors, shutdown, EPIPE and SIGPIPE, MSG_PEEK/WAITALL/DONTWAIT,
   SO_PEERCRED, buffer sizes with back-pressure, SO_RCVTIMEO, ECONNRESET. Only the parent
   prints; children report through their exit status. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

static int sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

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

static char dir[64] = "/tmp";

/* A name as the program shows it: a path without the run's directory, so every run prints
   the same whatever directory it was given. */
static void show_name(const char *what, int fd, int peer) {
    struct sockaddr_un a;
    socklen_t len = sizeof a;
    memset(&a, 0x55, sizeof a);
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len);
    if (r < 0) { printf("%s: %s\n", what, errname(errno)); return; }
    int plen = (int)len - (int)offsetof(struct sockaddr_un, sun_path);
    if (plen > 0 && a.sun_path[0] == 0) {
        printf("%s: len %d family %d abstract @%.*s\n", what, len, a.sun_family, plen - 1, a.sun_path + 1);
    } else if (plen > 0) {
        int cut = strncmp(a.sun_path, dir, strlen(dir)) == 0 ? (int)strlen(dir) : 0;
        printf("%s: len %d family %d path ...%s\n", what, len - cut, a.sun_family, a.sun_path + cut);
    } else {
        printf("%s: len %d family %d\n", what, len, a.sun_family);
    }
}

/* A client: connect, send its number, read the server's answer, check it. */
static int client(struct sockaddr_un *a, socklen_t len, int type, int n) {
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)a, len) < 0) return 10;
    char msg[32], buf[64];
    int m = snprintf(msg, sizeof msg, "client %d", n);
    if (write(fd, msg, m) != m) return 11;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return 12;
    buf[r] = 0;
    char want[64];
    snprintf(want, sizeof want, "hello %s", msg);
    if (strcmp(buf, want) != 0) return 13;
    if (read(fd, buf, sizeof buf) != 0) return 14;  /* the server closes after answering */
    return 0;
}

static void serve(const char *name, struct sockaddr_un *a, socklen_t len, int type) {
    int srv = socket(AF_UNIX, type, 0);
    T(bind(srv, (struct sockaddr *)a, len));
    T(listen(srv, 8));
    show_name(name, srv, 0);
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        if (kids[i] == 0) _exit(client(a, len, type, i));
    }
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        int c = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
        char buf[64], out[80];
        ssize_t r = read(c, buf, sizeof buf - 1);
        buf[r > 0 ? r : 0] = 0;
        int n = -1;
        sscanf(buf, "client %d", &n);
        if (n >= 0 && n < 4) seen |= 1 << n;
        int m = snprintf(out, sizeof out, "hello %s", buf);
        write(c, out, m);
        close(c);
    }
    printf("%s served clients mask %x\n", name, seen);
    for (int i = 0; i < 4; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        printf("%s client %d exit %d\n", name, i, WEXITSTATUS(status));
    }
    close(srv);
}

/* A path in the directory the run was given (argv[1], default /tmp). */
static const char *in_dir(const char *name) {
    static char paths[8][128];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 128, "%s/%s", dir, name);
    return path;
}

int main(int argc, char **argv) {
    struct sockaddr_un a, b;
    socklen_t alen, blen, len;
    char buf[256];
    int v;
    signal(SIGPIPE, on_sigpipe);
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);

    alen = path_addr(&a, in_dir("server.sock"));
    serve("path server", &a, alen, SOCK_STREAM);
    struct stat st;
    T(stat(in_dir("server.sock"), &st));
    printf("socket file %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    blen = abstract_addr(&b, "sentrio-test-abstract");
    serve("abstract server", &b, blen, SOCK_STREAM);
    alen = path_addr(&a, in_dir("seq.sock"));
    serve("seqpacket server", &a, alen, SOCK_SEQPACKET);

    /* binding: a path in use, a second bind, a missing directory, an autobind */
    int s1 = socket(AF_UNIX, SOCK_STREAM, 0), s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    alen = path_addr(&a, in_dir("server.sock"));
    T(bind(s1, (struct sockaddr *)&a, alen));
    T(unlink(in_dir("server.sock")));
    T(bind(s1, (struct sockaddr *)&a, alen));
    T(bind(s2, (struct sockaddr *)&a, alen));
    alen = path_addr(&b, in_dir("other.sock"));
    T(bind(s1, (struct sockaddr *)&b, alen));
    T(access(in_dir("other.sock"), F_OK));
    alen = path_addr(&b, "/nonexistent/x.sock");
    T(bind(s2, (struct sockaddr *)&b, alen));
    T(bind(s2, (struct sockaddr *)&b, 1));
    T(bind(s2, (struct sockaddr *)&b, 200));
    b.sun_family = AF_INET;
    T(bind(s2, (struct sockaddr *)&b, alen));
    sa_family_t fam = AF_UNIX;
    T(bind(s2, (struct sockaddr *)&fam, sizeof fam));
    len = sizeof b;
    T(getsockname(s2, (struct sockaddr *)&b, &len));
    printf("autobind len %d abstract %d\n", len, b.sun_path[0] == 0);
    blen = abstract_addr(&b, "taken");
    int s3 = socket(AF_UNIX, SOCK_DGRAM, 0), s4 = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(s3, (struct sockaddr *)&b, blen));
    T(bind(s4, (struct sockaddr *)&b, blen));
    show_name("unbound name", s4, 0);
    show_name("unbound peer", s4, 1);

    /* listen and accept errors, connect errors */
    T(listen(s4, 1));
    fcntl(s4, F_SETFL, O_NONBLOCK);
    T(accept(s4, NULL, NULL));
    fcntl(s4, F_SETFL, 0);
    T(connect(s4, (struct sockaddr *)&b, blen));       /* itself: a listener */
    close(s4);
    s4 = socket(AF_UNIX, SOCK_STREAM, 0);
    T(listen(s3, 1));
    T(accept(s3, NULL, NULL));
    alen = path_addr(&a, in_dir("server.sock"));  /* bound by s1, not listening */
    T(connect(s4, (struct sockaddr *)&a, alen));
    alen = path_addr(&a, in_dir("nothing.sock"));
    T(connect(s4, (struct sockaddr *)&a, alen));
    T(connect(s4, (struct sockaddr *)&b, blen));      /* a datagram socket's name */
    int f = open(in_dir("plain"), O_CREAT | O_WRONLY, 0644);
    close(f);
    alen = path_addr(&a, in_dir("plain"));
    T(connect(s4, (struct sockaddr *)&a, alen));
    blen = abstract_addr(&b, "nobody-here");
    T(connect(s4, (struct sockaddr *)&b, blen));
    T(connect(s4, (struct sockaddr *)&b, 2));
    T(read(s4, buf, 1));
    T(write(s4, buf, 1));
    T(sendto(s4, "x", 1, 0, (struct sockaddr *)&b, blen));
    T(accept4(s1, NULL, NULL, 0x1234));
    close(s1); close(s2); close(s3); close(s4);

    /* a full backlog: a non-blocking connect says EAGAIN; accepting makes room */
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    blen = abstract_addr(&b, "backlog");
    T(bind(srv, (struct sockaddr *)&b, blen));
    T(listen(srv, 1));
    int cl[4];
    for (int i = 0; i < 3; i++) {
        cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        T(connect(cl[i], (struct sockaddr *)&b, blen));
    }
    struct pollfd p = {srv, POLLIN, 0};
    T(poll(&p, 1, 0));
    printf("listener revents %x\n", p.revents);
    int acc = accept4(srv, (struct sockaddr *)&a, (len = sizeof a, &len), SOCK_NONBLOCK);
    printf("accepted peer len %d\n", len);
    T(fcntl(acc, F_GETFL) & O_NONBLOCK);
    T(connect(cl[2], (struct sockaddr *)&b, blen));
    T(connect(cl[2], (struct sockaddr *)&b, blen));
    show_name("accepted name", acc, 0);
    show_name("client peer", cl[0], 1);
    len = sizeof v;
    T(getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
    printf("acceptconn %d\n", v);

    /* SO_PEERCRED on both ends */
    struct ucred cred;
    len = sizeof cred;
    T(getsockopt(acc, SOL_SOCKET, SO_PEERCRED, &cred, &len));
    printf("peercred self %d uid %d gid %d len %d\n", cred.pid == getpid(), cred.uid, cred.gid, len);
    len = sizeof cred;
    T(getsockopt(cl[0], SOL_SOCKET, SO_PEERCRED, &cred, &len));
    printf("peercred self %d uid %d gid %d\n", cred.pid == getpid(), cred.uid, cred.gid);

    /* data flags: peek, dontwait, waitall, trunc is ignored on streams */
    T(write(cl[0], "hello world", 11));
    T(recv(acc, buf, 5, MSG_PEEK));
    T(recv(acc, buf, sizeof buf, MSG_PEEK));
    T(recv(acc, buf, 5, 0));
    T(recv(acc, buf, sizeof buf, MSG_TRUNC));
    T(recv(acc, buf, sizeof buf, MSG_DONTWAIT));
    pid_t kid = fork();
    if (kid == 0) {
        usleep(50000);
        write(cl[0], "abc", 3);
        usleep(50000);
        write(cl[0], "defgh", 5);
        _exit(0);
    }
    int fl = fcntl(acc, F_GETFL);
    fcntl(acc, F_SETFL, fl & ~O_NONBLOCK);
    T(recv(acc, buf, 8, MSG_WAITALL));
    printf("waitall got %.8s\n", buf);
    waitpid(kid, NULL, 0);
    T(recv(acc, buf, 8, MSG_OOB));
    T(send(acc, "x", 1, MSG_OOB));

    /* SO_RCVTIMEO: a read with nothing to read ends with EAGAIN */
    struct timeval tv = {0, 40000};
    T(setsockopt(acc, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    T(read(acc, buf, 1));
    tv.tv_usec = 2000000;
    T(setsockopt(acc, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    T(setsockopt(acc, SOL_SOCKET, SO_RCVTIMEO, &tv, 4));
    tv.tv_sec = 3; tv.tv_usec = 20000;
    T(setsockopt(acc, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    len = sizeof tv;
    T(getsockopt(acc, SOL_SOCKET, SO_SNDTIMEO, &tv, &len));
    printf("sndtimeo %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);

    /* buffer sizes are doubled and clamped; a full send buffer pushes back */
    v = 1;
    T(setsockopt(cl[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    len = sizeof v;
    T(getsockopt(cl[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
    printf("min sndbuf %d\n", v);
    v = 3000;
    T(setsockopt(cl[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    T(getsockopt(cl[0], SOL_SOCKET, SO_RCVBUF, &v, &len));
    printf("rcvbuf %d\n", v);
    v = 16384;
    T(setsockopt(cl[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    T(getsockopt(cl[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
    printf("sndbuf %d\n", v);
    T(setsockopt(cl[0], SOL_SOCKET, SO_SNDBUF, &v, 2));
    static char big[1 << 20];
    long total = 0;
    ssize_t r;
    while ((r = write(cl[0], big, 4096)) > 0) total += r;
    printf("filled: %d, then %s\n", total > 0 && total <= 32768, errname(errno));
    p.fd = cl[0]; p.events = POLLOUT;
    T(poll(&p, 1, 0));
    kid = fork();
    if (kid == 0) {  /* a blocking writer waits until the reader makes room */
        fcntl(cl[0], F_SETFL, 0);
        _exit(write(cl[0], big, 100000) == 100000 ? 0 : 1);
    }
    long drained = 0;
    while (drained < total + 100000 && (r = read(acc, big, sizeof big)) > 0) drained += r;
    int status;
    waitpid(kid, &status, 0);
    printf("drained everything %d, writer exit %d\n", drained == total + 100000, WEXITSTATUS(status));

    /* shutdown, EPIPE and SIGPIPE, MSG_NOSIGNAL, ECONNRESET from unread data */
    T(shutdown(acc, SHUT_WR));
    T(recv(cl[0], buf, sizeof buf, 0));
    p.fd = cl[0]; p.events = POLLIN | POLLOUT | POLLRDHUP;
    T(poll(&p, 1, 0));
    printf("half-closed revents %x\n", p.revents);
    T(write(acc, "x", 1));
    printf("sigpipes %d\n", sigpipes);
    T(send(acc, "x", 1, MSG_NOSIGNAL));
    printf("sigpipes %d\n", sigpipes);
    T(write(cl[0], "unread", 6));
    close(acc);
    p.events = POLLIN | POLLOUT;
    T(poll(&p, 1, 0));
    printf("reset revents %x\n", p.revents);
    T(read(cl[0], buf, sizeof buf));
    T(read(cl[0], buf, sizeof buf));
    T(write(cl[0], "x", 1));
    printf("sigpipes %d\n", sigpipes);
    T(getsockopt(cl[0], SOL_SOCKET, SO_ERROR, &v, &len));
    printf("so_error %d\n", v);

    /* the listener goes away with connections it never accepted */
    close(srv);
    T(read(cl[1], buf, sizeof buf));
    T(read(cl[1], buf, sizeof buf));
    T(connect(cl[3] = socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&b, blen));
    T(shutdown(cl[3], SHUT_RDWR));
    return 0;
}
