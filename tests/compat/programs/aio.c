/* Native AIO (io_setup, io_submit, io_getevents, io_pgetevents, io_cancel, io_destroy) through
 * raw system calls, as libaio makes them: reads and writes (plain and vectored), fsync, an
 * eventfd signalled at completion, polls answered now, later and when cancelled, and the
 * errors of each call in Linux's order. Usage: aio (writes a temporary file in /tmp). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long result)
{
    if (result < 0)
        printf("%s: %ld %s\n", what, result, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, result);
}

static long setup(unsigned nr, aio_context_t *ctx) { return syscall(SYS_io_setup, nr, ctx); }
static long destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long submit(aio_context_t ctx, long nr, struct iocb **iocbs) { return syscall(SYS_io_submit, ctx, nr, iocbs); }
static long cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *ev)
{
    return syscall(SYS_io_cancel, ctx, iocb, ev);
}
static long getevents(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *ts)
{
    return syscall(SYS_io_getevents, ctx, min, nr, ev, ts);
}

static struct iocb request(int opcode, int fd, void *buf, size_t nbytes, long long offset, uint64_t data)
{
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_lio_opcode = opcode;
    cb.aio_fildes = fd;
    cb.aio_buf = (uintptr_t)buf;
    cb.aio_nbytes = nbytes;
    cb.aio_offset = offset;
    cb.aio_data = data;
    return cb;
}

/* Reap exactly what is there now (timeout 0), and print each event by its data. */
static void reap(aio_context_t ctx, const char *what)
{
    struct io_event events[8];
    struct timespec now = {0, 0};
    long n = getevents(ctx, 0, 8, events, &now);
    show(what, n);
    for (long i = 0; i < n; i++)
        printf("  event data %llu res %lld res2 %lld obj-set %d\n", (unsigned long long)events[i].data,
               (long long)events[i].res, (long long)events[i].res2, events[i].obj != 0);
}

static void setup_errors(void)
{
    aio_context_t ctx = 0;
    show("io_setup 0 events", setup(0, &ctx));
    ctx = 1;
    show("io_setup with *ctxp set", setup(8, &ctx));
    show("io_setup bad ctxp", setup(8, (aio_context_t *)8));
    ctx = 0;
    show("io_setup 2^31 events", setup(0x80000000u, &ctx));
    show("io_setup past aio-max-nr", setup(70000, &ctx));
    show("io_destroy of nothing", destroy(12345));
    struct io_event ev;
    show("io_getevents of nothing", getevents(12345, 0, 1, &ev, NULL));
    show("io_submit of nothing", submit(12345, 0, NULL));
}

int main(void)
{
    char buf[64], other[64];
    setup_errors();
    aio_context_t ctx = 0;
    show("io_setup", setup(16, &ctx));
    printf("ctx is the ring's address: %d\n", ctx != 0 && ctx % 4096 == 0);

    char path[] = "/tmp/aio-XXXXXX";
    int fd = mkstemp(path);
    int ro = open(path, O_RDONLY);
    unlink(path);
    int efd = eventfd(0, EFD_NONBLOCK);
    int pipes[2];
    pipe(pipes);

    /* a write, then reads: plain and vectored, at offsets; an eventfd counts completions */
    struct iocb w = request(IOCB_CMD_PWRITE, fd, "hello, asynchronous world", 25, 0, 1);
    w.aio_flags = IOCB_FLAG_RESFD;
    w.aio_resfd = efd;
    w.aio_key = 77;
    struct iocb *list[4] = {&w};
    show("io_submit a write", submit(ctx, 1, list));
    printf("aio_key after submit: %u\n", w.aio_key);
    memset(buf, 0, sizeof buf);
    memset(other, 0, sizeof other);
    struct iocb r = request(IOCB_CMD_PREAD, fd, buf, 5, 7, 2);
    r.aio_flags = IOCB_FLAG_RESFD;
    r.aio_resfd = efd;
    struct iovec iov[2] = {{other, 3}, {other + 3, 4}};
    struct iocb rv = request(IOCB_CMD_PREADV, ro, iov, 2, 14, 3);
    struct iocb s = request(IOCB_CMD_FSYNC, fd, NULL, 0, 0, 4);
    list[0] = &r, list[1] = &rv, list[2] = &s;
    show("io_submit a read, a readv and an fsync", submit(ctx, 3, list));
    struct io_event events[8];
    show("io_getevents min 4", getevents(ctx, 4, 8, events, NULL));
    for (int i = 0; i < 4; i++)
        printf("  event data %llu res %lld obj is its iocb %d\n", (unsigned long long)events[i].data,
               (long long)events[i].res,
               events[i].obj == (uintptr_t)(i == 0 ? &w : i == 1 ? &r : i == 2 ? &rv : &s));
    printf("read '%s', readv '%s'\n", buf, other);
    uint64_t count = 0;
    show("eventfd read", read(efd, &count, 8));
    printf("eventfd counted %llu\n", (unsigned long long)count);
    reap(ctx, "nothing left");

    /* results that are errors travel in the event; errors of the request fail io_submit */
    struct iocb bad_buf = request(IOCB_CMD_PREAD, fd, (void *)8, 5, 0, 5);
    list[0] = &bad_buf;
    show("io_submit a read into no memory", submit(ctx, 1, list));
    reap(ctx, "its event");
    struct iocb wrong = request(IOCB_CMD_PWRITE, ro, "x", 1, 0, 6);
    list[0] = &wrong;
    show("io_submit a write to a read-only fd", submit(ctx, 1, list));
    struct iocb nofd = request(IOCB_CMD_PREAD, 99, buf, 1, 0, 7);
    list[0] = &nofd;
    show("io_submit a bad fd", submit(ctx, 1, list));
    struct iocb noop = request(IOCB_CMD_NOOP, fd, buf, 1, 0, 8);
    list[0] = &noop;
    show("io_submit IOCB_CMD_NOOP", submit(ctx, 1, list));
    struct iocb negative = request(IOCB_CMD_PREAD, fd, buf, 1, -1, 9);
    list[0] = &negative;
    show("io_submit a negative offset", submit(ctx, 1, list));
    struct iocb reserved = request(IOCB_CMD_PREAD, fd, buf, 1, 0, 10);
    reserved.aio_reserved2 = 1;
    list[0] = &reserved;
    show("io_submit aio_reserved2 set", submit(ctx, 1, list));
    struct iocb sync_buf = request(IOCB_CMD_FSYNC, fd, buf, 0, 0, 11);
    list[0] = &sync_buf;
    show("io_submit an fsync with a buffer", submit(ctx, 1, list));
    struct iocb not_eventfd = request(IOCB_CMD_PREAD, fd, buf, 1, 0, 12);
    not_eventfd.aio_flags = IOCB_FLAG_RESFD;
    not_eventfd.aio_resfd = pipes[0];
    list[0] = &not_eventfd;
    show("io_submit resfd not an eventfd", submit(ctx, 1, list));
    show("io_submit nr -1", submit(ctx, -1, list));
    show("io_submit nr 0", submit(ctx, 0, list));
    struct iocb good = request(IOCB_CMD_PREAD, fd, buf, 2, 0, 13);
    list[0] = &good, list[1] = &nofd;
    show("io_submit a good one then a bad one", submit(ctx, 2, list));
    list[0] = (struct iocb *)8;
    show("io_submit a bad iocb pointer", submit(ctx, 1, list));
    show("io_submit a bad array", submit(ctx, 1, (struct iocb **)8));
    reap(ctx, "the good one's event");
    show("io_getevents min > nr", getevents(ctx, 2, 1, events, NULL));
    show("io_getevents nr < 0", getevents(ctx, 0, -1, events, NULL));
    struct timespec short_wait = {0, 50 * 1000 * 1000};
    show("io_getevents waits out its timeout", getevents(ctx, 1, 1, events, &short_wait));

    /* polls: answered now, answered when the pipe gets data, cancelled */
    struct iocb writable = request(IOCB_CMD_POLL, pipes[1], (void *)(uintptr_t)POLLOUT, 0, 0, 20);
    struct iocb readable = request(IOCB_CMD_POLL, pipes[0], (void *)(uintptr_t)POLLIN, 0, 0, 21);
    list[0] = &writable, list[1] = &readable;
    show("io_submit two polls", submit(ctx, 2, list));
    reap(ctx, "the writable pipe at once");
    write(pipes[1], "!", 1);
    show("io_getevents the readable pipe", getevents(ctx, 1, 8, events, NULL));
    printf("  event data %llu res %lld\n", (unsigned long long)events[0].data, (long long)events[0].res);
    read(pipes[0], buf, 1);
    struct iocb never = request(IOCB_CMD_POLL, pipes[0], (void *)(uintptr_t)POLLIN, 0, 0, 22);
    list[0] = &never;
    show("io_submit a poll of an empty pipe", submit(ctx, 1, list));
    reap(ctx, "not yet");
    show("io_cancel it", cancel(ctx, &never, events));
    show("io_getevents its cancellation", getevents(ctx, 1, 8, events, NULL));
    printf("  event data %llu res %lld\n", (unsigned long long)events[0].data, (long long)events[0].res);
    show("io_cancel it again", cancel(ctx, &never, events));
    struct iocb bad_poll = request(IOCB_CMD_POLL, pipes[0], (void *)(uintptr_t)POLLIN, 1, 0, 23);
    list[0] = &bad_poll;
    show("io_submit a poll with a length", submit(ctx, 1, list));

    /* a child has none of its parent's contexts */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        list[0] = &good;
        show("child io_submit on its parent's context", submit(ctx, 1, list));
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, NULL, 0);

    show("io_destroy", destroy(ctx));
    show("io_destroy again", destroy(ctx));
    show("io_getevents after destroy", getevents(ctx, 0, 1, events, NULL));
    return 0;
}
