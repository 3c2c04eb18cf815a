/* vmsplice: two segments into a pipe and out of it again, SPLICE_F_GIFT accepted,
 * SPLICE_F_NONBLOCK on a full and an empty pipe, EPIPE (with SIGPIPE) without readers, 0 at
 * end of file, and the errors (flags, fds, non-pipes, iovecs). Usage: vmsplice */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include "show.h"

static int got_sigpipe;
static void on_sigpipe(int sig) { (void)sig; got_sigpipe = 1; }

int main(void)
{
    int p[2];
    pipe(p);
    char a[] = "hello, ", b[] = "world";
    struct iovec in[2] = {{a, 7}, {b, 5}};
    show("into the pipe", vmsplice(p[1], in, 2, SPLICE_F_GIFT));
    char x[4] = "", y[16] = "";
    struct iovec out[2] = {{x, 4}, {y, sizeof y - 1}};
    show("out of the pipe", vmsplice(p[0], out, 2, 0));
    printf("got %.4s|%s\n", x, y);
    show("empty, nonblocking", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
    show("bad flags", vmsplice(p[1], in, 2, 16));
    show("bad fd", vmsplice(99, in, 2, 0));
    show("too many segments", vmsplice(p[1], in, 1025, 0));
    show("bad iovec", vmsplice(p[1], (struct iovec *)8, 1, 0));
    int file = open("/tmp/vmsplice", O_RDWR | O_CREAT | O_TRUNC, 0600);
    show("a regular file", vmsplice(file, in, 2, 0));
    struct iovec none = {a, 0};
    show("nothing, to a regular file", vmsplice(file, &none, 1, 0));
    int path = open("/tmp/vmsplice", O_PATH);
    show("O_PATH", vmsplice(path, in, 2, 0));

    fcntl(p[1], F_SETFL, O_NONBLOCK);
    char page[4096] = {0};
    while (write(p[1], page, sizeof page) > 0)
        ;
    fcntl(p[1], F_SETFL, 0);
    show("full, nonblocking", vmsplice(p[1], in, 2, SPLICE_F_NONBLOCK));

    int q[2];
    pipe(q);
    close(q[1]);
    show("no writers: end of file", vmsplice(q[0], out, 2, 0));
    int r[2];
    pipe(r);
    close(r[0]);
    signal(SIGPIPE, on_sigpipe);
    show("no readers", vmsplice(r[1], in, 2, 0));
    printf("SIGPIPE %d\n", got_sigpipe);
    return 0;
}
