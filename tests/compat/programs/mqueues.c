/* POSIX message queues: mq_open's flags and limits, priorities, blocking and timeouts,
 * EAGAIN/EMSGSIZE/ETIMEDOUT/EINTR, mq_notify, mq_getsetattr, poll, permissions, unlink.
 * Usage: mqueues CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

static char qname[64];

static const char *name(const char *base)
{
    snprintf(qname, sizeof qname, "/%s.%d", base, (int)getpid());
    return qname;
}

static struct timespec in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static void basics(void)
{
    const char *n = name("basics");
    struct mq_attr attr = {0, 4, 64, 0};
    mqd_t q = mq_open(n, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    show("open", q >= 0 ? 0 : -1);
    show("open O_EXCL again", mq_open(n, O_CREAT | O_EXCL | O_RDWR, 0600, &attr));
    show("open missing", mq_open("/no-such-queue", O_RDONLY));
    show("open without a slash", mq_open("noslash", O_RDONLY));
    show("open O_RDWR|O_WRONLY", mq_open(n, O_RDWR | O_WRONLY));
    struct mq_attr bad = {0, 0, 64, 0};
    show("open maxmsg 0", mq_open(name("bad1"), O_CREAT | O_RDWR, 0600, &bad));
    struct mq_attr big = {0, 11, 64, 0};
    show("open maxmsg past msg_max", mq_open(name("bad2"), O_CREAT | O_RDWR, 0600, &big));
    struct mq_attr huge = {0, 4, 8193, 0};
    show("open msgsize past msgsize_max", mq_open(name("bad3"), O_CREAT | O_RDWR, 0600, &huge));
    n = name("basics");
    int flags = fcntl(q, F_GETFD);
    printf("close-on-exec: %d\n", flags & FD_CLOEXEC);
    struct mq_attr got;
    show("getattr", mq_getattr(q, &got));
    printf("attr: flags %ld maxmsg %ld msgsize %ld curmsgs %ld\n", got.mq_flags, got.mq_maxmsg, got.mq_msgsize,
           got.mq_curmsgs);
    show("send prio 1", mq_send(q, "one", 3, 1));
    show("send prio 5", mq_send(q, "five", 4, 5));
    show("send prio 1 again", mq_send(q, "uno", 3, 1));
    show("send prio 5 again", mq_send(q, "cinq", 4, 5));
    show("send too big", mq_send(q, "x", 65, 0));
    show("send bad prio", mq_send(q, "x", 1, 32768));
    struct timespec soon = in_ms(50);
    show("timedsend full", mq_timedsend(q, "x", 1, 0, &soon));
    struct timespec invalid = {0, 2000000000L};
    show("timedsend bad timeout", mq_timedsend(q, "x", 1, 0, &invalid));
    struct pollfd p = {q, POLLIN | POLLOUT, 0};
    show("poll full", poll(&p, 1, 0));
    printf("revents: %#x\n", p.revents);
    mq_getattr(q, &got);
    printf("curmsgs: %ld\n", got.mq_curmsgs);
    char buf[64];
    unsigned prio;
    show("receive into a short buffer", mq_receive(q, buf, 10, &prio));
    for (int i = 0; i < 4; i++) {
        long len = mq_receive(q, buf, sizeof buf, &prio);
        printf("receive: %ld %.*s prio %u\n", len, (int)(len > 0 ? len : 0), buf, prio);
    }
    soon = in_ms(50);
    show("timedreceive empty", mq_timedreceive(q, buf, sizeof buf, &prio, &soon));
    struct mq_attr nb = {O_NONBLOCK, 0, 0, 0}, old;
    show("setattr O_NONBLOCK", mq_setattr(q, &nb, &old));
    printf("old flags: %ld\n", old.mq_flags);
    show("receive nonblocking", mq_receive(q, buf, sizeof buf, &prio));
    struct mq_attr badflags = {1, 0, 0, 0};
    show("setattr bad flags", mq_setattr(q, &badflags, NULL));
    mq_getattr(q, &got);
    printf("flags now: %ld\n", got.mq_flags);
    show("send empty message", mq_send(q, "", 0, 0));
    show("receive empty message", mq_receive(q, buf, sizeof buf, NULL));
    mqd_t ro = mq_open(n, O_RDONLY);
    show("send on O_RDONLY", mq_send(ro, "x", 1, 0));
    mqd_t wo = mq_open(n, O_WRONLY);
    show("receive on O_WRONLY", mq_receive(wo, buf, sizeof buf, NULL));
    show("send on a pipe", mq_send(0, "x", 1, 0));
    show("getattr bad fd", mq_getattr(99, &got));
    show("close", mq_close(q));
    show("unlink", mq_unlink(n));
    show("unlink again", mq_unlink(n));
    show("send after unlink through an open descriptor", mq_send(wo, "x", 1, 0));
    show("receive after unlink", mq_receive(ro, buf, sizeof buf, NULL));
    show("open after unlink", mq_open(n, O_RDONLY));
    mq_close(ro);
    mq_close(wo);
}

static void on_signal(int sig) { (void)sig; }
static volatile siginfo_t notified;
static volatile int got_notified;
static void on_notify(int sig, siginfo_t *info, void *ctx)
{
    (void)sig; (void)ctx;
    notified = *info;
    got_notified = 1;
}

static void blocking(void)
{
    const char *n = name("blocking");
    struct mq_attr attr = {0, 1, 16, 0};
    mqd_t q = mq_open(n, O_CREAT | O_RDWR, 0600, &attr);
    char buf[16];
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        mq_send(q, "late", 4, 3);
        _exit(0);
    }
    unsigned prio = 0;
    long len = mq_receive(q, buf, sizeof buf, &prio);
    printf("blocking receive: %ld %.*s prio %u\n", len, (int)(len > 0 ? len : 0), buf, prio);
    waitpid(child, NULL, 0);
    show("fill", mq_send(q, "a", 1, 0));
    child = fork();
    if (child == 0) {
        usleep(100000);
        char b[16];
        mq_receive(q, b, sizeof b, NULL);
        _exit(0);
    }
    show("blocking send", mq_send(q, "b", 1, 0));
    waitpid(child, NULL, 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    show("send interrupted by a signal", mq_send(q, "c", 1, 0));
    mq_receive(q, buf, sizeof buf, NULL);
    alarm(1);
    show("receive interrupted by a signal", mq_receive(q, buf, sizeof buf, NULL));
    mq_close(q);
    mq_unlink(n);
}

static void notify(void)
{
    const char *n = name("notify");
    struct mq_attr attr = {0, 4, 16, 0};
    mqd_t q = mq_open(n, O_CREAT | O_RDWR, 0600, &attr);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_notify;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 42;
    show("notify", mq_notify(q, &ev));
    show("notify again", mq_notify(q, &ev));
    pid_t child = fork();
    if (child == 0) {
        show("notify from another process", mq_notify(q, &ev));
        show("unregister someone else's", mq_notify(q, NULL));
        mq_send(q, "hello", 5, 0);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    for (int i = 0; i < 100 && !got_notified; i++)
        usleep(10000);
    printf("notified: %d signo %d code %d value %d from child %d\n", got_notified, notified.si_signo,
           notified.si_code, notified.si_value.sival_int, notified.si_pid == child);
    got_notified = 0;
    show("send to a non-empty queue", mq_send(q, "more", 4, 0));
    show("registration ended: notify again", mq_notify(q, &ev));
    show("unregister", mq_notify(q, NULL));
    ev.sigev_notify = SIGEV_NONE;
    show("notify SIGEV_NONE", mq_notify(q, &ev));
    ev.sigev_notify = 99;
    show("notify bad sigev_notify", mq_notify(q, &ev));
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 99;
    show("notify bad signal", mq_notify(q, &ev));
    show("notify bad fd", mq_notify(99, NULL));
    char status_line[128] = {0};
    show("read status", read(q, status_line, sizeof status_line - 1) > 0 ? 0 : -1);
    printf("status: %.9s\n", status_line);
    mq_close(q);
    mq_unlink(n);
}

static void permissions(void)
{
    const char *n = name("perm");
    mqd_t q = mq_open(n, O_CREAT | O_RDWR, 0640, NULL);
    struct mq_attr got;
    mq_getattr(q, &got);
    printf("defaults: maxmsg %ld msgsize %ld\n", got.mq_maxmsg, got.mq_msgsize);
    struct stat st;
    show("fstat", fstat(q, &st));
    printf("mode %o\n", st.st_mode & 0777);
    pid_t child = fork();
    if (child == 0) {
        setgid(2000);
        setuid(2000);
        show("open as another user for reading", mq_open(n, O_RDONLY));
        show("unlink as another user", mq_unlink(n));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    mq_close(q);
    show("unlink", mq_unlink(n));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "basics"))
        basics();
    else if (!strcmp(argv[1], "blocking"))
        blocking();
    else if (!strcmp(argv[1], "notify"))
        notify();
    else if (!strcmp(argv[1], "permissions"))
        permissions();
    else
        return 2;
    return 0;
}
