/* Passing files over AF_UNIX sockets: a pipe and a file to another process (SCM_RIGHTS),
   MSG_CMSG_CLOEXEC, a control buffer too small (MSG_CTRUNC), files left unread, bad fds,
   and credentials: SO_PASSCRED with SCM_CREDENTIALS, sent and checked. */
#include "check.h"
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

static int send_fds(int sock, const int *fds, int n, const char *data) {
    char control[CMSG_SPACE(sizeof(int) * 300)];
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (n) {
        memset(control, 0, sizeof control);
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    }
    return sendmsg(sock, &mh, 0);
}

/* Receive with a control buffer of ``room`` bytes; the fds that came are stored in ``fds``. */
static int recv_fds(int sock, int *fds, int *n, size_t room, int flags, char *data, size_t size) {
    char control[4096];
    struct iovec iov = {data, size};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = room ? control : NULL;
    mh.msg_controllen = room;
    int r = recvmsg(sock, &mh, flags);
    if (r < 0) return r;
    *n = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        printf("  cmsg level %d type %d len %zu\n", cm->cmsg_level, cm->cmsg_type, (size_t)cm->cmsg_len);
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds + *n, CMSG_DATA(cm), count * sizeof(int));
            *n += count;
        }
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
            struct ucred c;
            memcpy(&c, CMSG_DATA(cm), sizeof c);
            printf("  creds self %d uid %d gid %d\n", c.pid == getpid() || c.pid == getppid(), c.uid, c.gid);
        }
    }
    printf("  msg_flags %x controllen %zu\n", mh.msg_flags, (size_t)mh.msg_controllen);
    return r;
}

int main(void) {
    int sv[2], fds[300], n, p[2];
    char data[64];
    signal(SIGPIPE, SIG_IGN);
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    T(pipe(p));
    int file = open("/tmp/passed", O_CREAT | O_RDWR | O_TRUNC, 0600);
    T(write(file, "in the file\n", 12));

    /* a child receives a pipe's write end and a file, uses them, and exits */
    pid_t kid = fork();
    if (kid == 0) {
        close(sv[0]);
        int got[4], count = 0;
        char buf[64];
        if (recv_fds(sv[1], got, &count, 1024, MSG_CMSG_CLOEXEC, buf, sizeof buf) <= 0 || count != 2) _exit(1);
        if (fcntl(got[0], F_GETFD) != FD_CLOEXEC) _exit(2);
        if (write(got[0], "through the pipe", 16) != 16) _exit(3);
        char text[32] = {0};
        if (pread(got[1], text, sizeof text - 1, 0) != 12 || strcmp(text, "in the file\n")) _exit(4);
        lseek(got[1], 0, SEEK_END);
        if (write(got[1], "child was here\n", 15) != 15) _exit(5);
        _exit(0);
    }
    int pass[2] = {p[1], file};
    T(send_fds(sv[0], pass, 2, "two files"));
    close(p[1]);
    int status;
    waitpid(kid, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    memset(data, 0, sizeof data);
    T(read(p[0], data, sizeof data));
    printf("pipe says: %s\n", data);
    T(read(p[0], data, sizeof data));
    T(lseek(file, 0, SEEK_CUR));
    struct stat st;
    T(fstat(file, &st));
    printf("file size %ld\n", (long)st.st_size);

    /* in one process: fds arrive as new numbers, sharing the description (the offset) */
    T(send_fds(sv[0], &file, 1, "one"));
    memset(data, 0, sizeof data);
    T(recv_fds(sv[1], fds, &n, 1024, 0, data, sizeof data));
    printf("got %d fds, text %s, cloexec %d, same offset %d\n", n, data, fcntl(fds[0], F_GETFD),
           lseek(fds[0], 0, SEEK_CUR) == lseek(file, 0, SEEK_CUR));
    close(fds[0]);

    /* a control buffer with room for one fd of three: MSG_CTRUNC, the others closed */
    int three[3] = {file, p[0], sv[0]};
    T(send_fds(sv[0], three, 3, "three"));
    T(recv_fds(sv[1], fds, &n, CMSG_SPACE(sizeof(int)), 0, data, sizeof data));
    printf("got %d fds\n", n);
    close(fds[0]);
    T(send_fds(sv[0], three, 3, "none"));
    T(recv_fds(sv[1], fds, &n, 0, 0, data, sizeof data));
    T(send_fds(sv[0], three, 3, "tiny"));
    T(recv_fds(sv[1], fds, &n, 8, 0, data, sizeof data));

    /* a stream read stops after a message carrying files; peek leaves them queued */
    T(write(sv[0], "before", 6));
    T(send_fds(sv[0], &file, 1, "with"));
    T(write(sv[0], "after", 5));
    T(recv_fds(sv[1], fds, &n, 1024, MSG_PEEK, data, sizeof data));
    close(fds[0]);
    T(recv_fds(sv[1], fds, &n, 1024, 0, data, sizeof data));
    close(fds[0]);
    T(recv_fds(sv[1], fds, &n, 1024, 0, data, sizeof data));
    T(send_fds(sv[0], &file, 1, "readme"));
    T(read(sv[1], data, sizeof data));

    /* errors: a bad fd, too many fds, rights on a socket of another family */
    int bad = 999;
    T(send_fds(sv[0], &bad, 1, "bad"));
    for (int i = 0; i < 254; i++) fds[i] = file;
    T(send_fds(sv[0], fds, 254, "too many"));
    T(send_fds(sv[0], fds, 253, "just enough"));
    T(recv_fds(sv[1], fds, &n, 1024, 0, data, sizeof data));
    printf("got %d fds\n", n);
    for (int i = 0; i < n; i++) close(fds[i]);

    /* files left in a socket that is closed are closed with it */
    int q[2];
    T(pipe(q));
    int sw[2];
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sw));
    T(send_fds(sw[0], &q[1], 1, "lost"));
    close(q[1]);
    close(sw[1]);
    close(sw[0]);
    T(read(q[0], data, sizeof data));

    /* credentials: SO_PASSCRED makes them arrive; a sender may claim only its own */
    int dg[2];
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg));
    int on = 1;
    T(setsockopt(dg[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    T(send(dg[0], "who", 3, 0));
    T(recv_fds(dg[1], fds, &n, 1024, 0, data, sizeof data));
    T(recv_fds(dg[1], fds, &n, 8, MSG_DONTWAIT, data, sizeof data));
    T(send(dg[0], "cut", 3, 0));
    T(recv_fds(dg[1], fds, &n, 20, 0, data, sizeof data));
    struct {
        struct cmsghdr h;
        struct ucred c;
    } cred = {{CMSG_LEN(sizeof(struct ucred)), SOL_SOCKET, SCM_CREDENTIALS}, {getpid(), getuid(), getgid()}};
    struct iovec iov = {"claim", 5};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = &cred;
    mh.msg_controllen = sizeof cred;
    T(sendmsg(dg[0], &mh, 0));
    T(recv_fds(dg[1], fds, &n, 1024, 0, data, sizeof data));
    cred.h.cmsg_len = CMSG_LEN(4);
    T(sendmsg(dg[0], &mh, 0));
    cred.h.cmsg_len = CMSG_LEN(sizeof(struct ucred));
    cred.h.cmsg_type = 99;
    T(sendmsg(dg[0], &mh, 0));
    cred.h.cmsg_type = SCM_CREDENTIALS;
    cred.h.cmsg_len = 200;
    T(sendmsg(dg[0], &mh, 0));
    cred.h.cmsg_len = CMSG_LEN(sizeof(struct ucred));
    cred.h.cmsg_level = 12345;
    T(sendmsg(dg[0], &mh, 0));
    T(recv(dg[1], data, sizeof data, 0));
    cred.h.cmsg_level = SOL_SOCKET;
    kid = fork();
    if (kid == 0) {  /* a stream read does not join writers with other credentials */
        setgroups(0, NULL);
        if (setgid(65534) || setuid(65534)) _exit(9);
        _exit(write(sv[0], "nobody", 6) == 6 ? 0 : 1);
    }
    waitpid(kid, &status, 0);
    T(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    T(write(sv[0], "root", 4));
    T(recv_fds(sv[1], fds, &n, 1024, 0, data, sizeof data));
    T(recv_fds(sv[1], fds, &n, 1024, 0, data, sizeof data));
    return 0;
}
