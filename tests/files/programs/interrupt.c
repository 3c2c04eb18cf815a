/* A signal ends a blocking pipe read, poll and epoll_wait with EINTR; SA_RESTART restarts the read;
 * a blocking write bigger than the pipe, interrupted once the pipe is full, returns what it wrote. */
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
static void h(int s) { (void)s; }
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = h; sigaction(SIGALRM, &sa, NULL);
    int p[2]; pipe(p); char c;
    alarm(1); long r = read(p[0], &c, 1); printf("read %ld %s\n", r, r < 0 ? strerror(errno) : "");
    struct pollfd f = {p[0], POLLIN, 0};
    alarm(1); r = poll(&f, 1, -1); printf("poll %ld %s\n", r, r < 0 ? strerror(errno) : "");
    int ep = epoll_create1(0); struct epoll_event ev = {EPOLLIN, {0}}; epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    alarm(1); r = epoll_wait(ep, &ev, 1, -1); printf("epoll %ld %s\n", r, r < 0 ? strerror(errno) : "");
    sa.sa_flags = SA_RESTART; sigaction(SIGALRM, &sa, NULL);
    if (fork() == 0) { sleep(2); write(p[1], "x", 1); _exit(0); }
    alarm(1); r = read(p[0], &c, 1); printf("restarted read %ld\n", r);
    sa.sa_flags = 0; sigaction(SIGALRM, &sa, NULL);
    static char big[200000];
    int q[2]; pipe(q);
    alarm(1); r = write(q[1], big, sizeof big); printf("interrupted big write %ld %s\n", r, r < 0 ? strerror(errno) : "");
    alarm(1); r = write(q[1], big, sizeof big); printf("write to a full pipe %ld %s\n", r, r < 0 ? strerror(errno) : "");
    return 0;
}
