/* timerfd: create (clocks, flags, alarm clocks without CAP_WAKE_ALARM), settime/gettime (relative,
 * absolute, periodic, disarm, bad arguments), read (count, EAGAIN, EINVAL, blocking), readiness
 * in poll, select and epoll (level and edge), inheritance by fork and across execve.
 * Usage: events_timerfd CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
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

static struct itimerspec its(long vs, long vns, long is, long ins)
{
    struct itimerspec t = {{is, ins}, {vs, vns}};
    return t;
}

static long set(int fd, int flags, long vs, long vns, long is, long ins)
{
    struct itimerspec t = its(vs, vns, is, ins);
    return timerfd_settime(fd, flags, &t, NULL);
}

static long read_count(int fd, uint64_t *count)
{
    return read(fd, count, sizeof *count);
}

static void create_case(void)
{
    show("realtime", timerfd_create(CLOCK_REALTIME, 0) >= 0);
    show("monotonic", timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) >= 0);
    show("boottime", timerfd_create(CLOCK_BOOTTIME, 0) >= 0);
    show("process cputime", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    show("monotonic raw", timerfd_create(CLOCK_MONOTONIC_RAW, 0));
    show("clock 100", timerfd_create(100, 0));
    show("bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
    show("realtime alarm", timerfd_create(CLOCK_REALTIME_ALARM, 0));
    show("boottime alarm", timerfd_create(CLOCK_BOOTTIME_ALARM, 0));
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    show("cloexec", fcntl(fd, F_GETFD) & FD_CLOEXEC);
    show("nonblock", !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    show("lseek", lseek(fd, 0, SEEK_SET));
    show("write", write(fd, "12345678", 8));
}

static void settime_case(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec cur, old, t = its(100, 0, 0, 0);
    show("gettime disarmed", timerfd_gettime(fd, &cur));
    printf("disarmed: %ld %ld %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec,
           (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    show("settime 100 s every 7 s", set(fd, 0, 100, 0, 7, 0));
    timerfd_gettime(fd, &cur);
    printf("left about 100 s: %d, interval %ld.%09ld\n", cur.it_value.tv_sec >= 99 && cur.it_value.tv_sec <= 100,
           (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    show("settime with old", timerfd_settime(fd, 0, &t, &old));
    printf("old left about 100 s: %d, interval %ld\n", old.it_value.tv_sec >= 99, (long)old.it_interval.tv_sec);
    show("disarm", set(fd, 0, 0, 0, 5, 0));
    timerfd_gettime(fd, &cur);
    printf("after disarm: %ld %ld\n", (long)cur.it_value.tv_sec, (long)cur.it_interval.tv_sec);
    show("bad flags", set(fd, 4, 1, 0, 0, 0));
    show("nsec too big", set(fd, 0, 1, 1000000000, 0, 0));
    show("negative sec", set(fd, 0, -1, 0, 0, 0));
    show("negative interval", set(fd, 0, 1, 0, -1, 0));
    show("NULL new", timerfd_settime(fd, 0, NULL, NULL));
    show("bad fd", set(99, 0, 1, 0, 0, 0));
    show("not a timerfd", set(1, 0, 1, 0, 0, 0));
    show("gettime not a timerfd", timerfd_gettime(1, &cur));
    show("gettime bad fd", timerfd_gettime(99, &cur));
    show("gettime NULL", timerfd_gettime(fd, NULL));
    show("cancel on set", set(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 1, 0, 0, 0));
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    show("absolute in the past", set(fd, TFD_TIMER_ABSTIME, now.tv_sec > 0 ? now.tv_sec - 1 : 0, 1, 0, 0));
    uint64_t count = 0;
    show("read fired", read_count(fd, &count));
    printf("count: %lu\n", (unsigned long)count);
    show("read again", read_count(fd, &count));
    clock_gettime(CLOCK_REALTIME, &now);
    int rt = timerfd_create(CLOCK_REALTIME, 0);
    show("absolute realtime +20 ms", set(rt, TFD_TIMER_ABSTIME, now.tv_sec, 0, 0, 0) * 0 +
         set(rt, TFD_TIMER_ABSTIME, now.tv_sec + (now.tv_nsec + 20000000) / 1000000000,
             (now.tv_nsec + 20000000) % 1000000000, 0, 0));
    show("blocking read", read_count(rt, &count));
    printf("count: %lu\n", (unsigned long)count);
}

static void read_case(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    uint64_t count = 0;
    char small[4];
    show("read disarmed", read_count(fd, &count));
    show("short read", read(fd, small, sizeof small));
    set(fd, 0, 0, 1000000, 0, 1000000); /* every ms */
    struct timespec pause = {0, 30000000};
    nanosleep(&pause, NULL);
    int n = 0;
    show("FIONREAD", ioctl(fd, FIONREAD, &n));
    printf("FIONREAD bytes: %d\n", n);
    show("read periodic", read_count(fd, &count));
    printf("several expirations: %d\n", count >= 10);
    set(fd, 0, 0, 0, 0, 0);
    show("read after disarm", read_count(fd, &count));
    /* settime forgets expirations not read */
    set(fd, 0, 0, 1000, 0, 0);
    nanosleep(&pause, NULL);
    set(fd, 0, 100, 0, 0, 0);
    show("read after re-arm", read_count(fd, &count));
    /* blocking read of a periodic timer */
    int b = timerfd_create(CLOCK_MONOTONIC, 0);
    set(b, 0, 0, 10000000, 0, 10000000);
    show("blocking read", read_count(b, &count));
    printf("at least one: %d\n", count >= 1);
    show("short blocking read", read(b, small, sizeof small));
}

static void poll_case(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    show("poll disarmed", poll(&p, 1, 0));
    set(fd, 0, 0, 20000000, 0, 0);
    show("poll until it fires", poll(&p, 1, 5000));
    printf("revents: %#x\n", p.revents);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {5, 0};
    show("select", select(fd + 1, &r, NULL, NULL, &tv));
    printf("in set: %d\n", FD_ISSET(fd, &r));
    uint64_t count;
    read_count(fd, &count);
    show("poll after read", poll(&p, 1, 0));

    int level = epoll_create1(0), edge = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7}, out[2];
    epoll_ctl(level, EPOLL_CTL_ADD, fd, &ev);
    ev.events = EPOLLIN | EPOLLET;
    epoll_ctl(edge, EPOLL_CTL_ADD, fd, &ev);
    show("epoll level disarmed", epoll_wait(level, out, 2, 0));
    set(fd, 0, 0, 20000000, 0, 0);
    show("epoll level waits", epoll_wait(level, out, 2, 5000));
    printf("event %#x data %lu\n", out[0].events, (unsigned long)out[0].data.u64);
    show("epoll level again", epoll_wait(level, out, 2, 0));
    show("epoll edge", epoll_wait(edge, out, 2, 5000));
    show("epoll edge again", epoll_wait(edge, out, 2, 0));
    set(fd, 0, 0, 20000000, 0, 0); /* drops the count: a new edge at the next expiry */
    show("epoll edge rearmed", epoll_wait(edge, out, 2, 5000));
    read_count(fd, &count);
    show("epoll level after read", epoll_wait(level, out, 2, 0));
}

static void inherit_case(char *self)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    set(fd, 0, 0, 10000000, 0, 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t count = 0;
        show("child blocking read", read_count(fd, &count));
        printf("child count: %lu\n", (unsigned long)count);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    uint64_t count = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    show("parent read after the child's", read_count(fd, &count));
    set(fd, 0, 0, 10000000, 0, 0);
    char arg[16];
    snprintf(arg, sizeof arg, "%d", fd);
    execl(self, self, "exec", arg, (char *)NULL);
    perror("execl");
}

static void exec_case(const char *arg)
{
    int fd = atoi(arg);
    uint64_t count = 0;
    struct pollfd p = {fd, POLLIN, 0};
    show("after exec poll", poll(&p, 1, 5000));
    show("after exec read", read_count(fd, &count));
    printf("after exec count: %lu\n", (unsigned long)count);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (!strcmp(what, "create"))
        create_case();
    else if (!strcmp(what, "settime"))
        settime_case();
    else if (!strcmp(what, "read"))
        read_case();
    else if (!strcmp(what, "poll"))
        poll_case();
    else if (!strcmp(what, "inherit"))
        inherit_case(argv[0]);
    else if (!strcmp(what, "exec") && argc > 2)
        exec_case(argv[2]);
    else
        return 2;
    return 0;
}
