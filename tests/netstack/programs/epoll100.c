/* epoll over 100 TCP connections and 100 socketpairs: level-triggered readiness, edge-triggered
   events that come once per arrival, EPOLLONESHOT, EPOLLRDHUP, and a writer that waits. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define N 100

static int count_ready(int ep, int timeout, unsigned *mask_or) {
    struct epoll_event ev[2 * N];
    int n = epoll_wait(ep, ev, 2 * N, timeout);
    *mask_or = 0;
    for (int i = 0; i < n; i++) *mask_or |= ev[i].events;
    return n;
}

int main(void) {
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {AF_INET, 0, {htonl(INADDR_LOOPBACK)}};
    T(bind(srv, (struct sockaddr *)&a, sizeof a));
    socklen_t len = sizeof a;
    getsockname(srv, (struct sockaddr *)&a, &len);
    T(listen(srv, 128));
    int clients[N], served[N], pairs[N][2];
    for (int i = 0; i < N; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(clients[i], (struct sockaddr *)&a, sizeof a);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {EPOLLIN, {.fd = srv}};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, srv, &ev));
    int accepted = 0;
    unsigned mask;
    int n;
    while (accepted < N) {
        if (count_ready(ep, 5000, &mask) <= 0) break;
        int fd;
        while (accepted < N && (fd = accept4(srv, NULL, NULL, SOCK_NONBLOCK)) >= 0) served[accepted++] = fd;
    }
    printf("accepted %d\n", accepted);
    T(epoll_ctl(ep, EPOLL_CTL_DEL, srv, NULL));
    for (int i = 0; i < N; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pairs[i]) < 0) printf("socketpair %d failed\n", i);
    }

    /* level-triggered: every client is writable; readable only where data waits */
    for (int i = 0; i < N; i++) {
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u32 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, clients[i], &ev);
    }
    n = count_ready(ep, 0, &mask);
    printf("writable %d mask %x\n", n, mask);
    for (int i = 0; i < N; i++) {
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        epoll_ctl(ep, EPOLL_CTL_MOD, clients[i], &ev);
    }
    printf("readable before %d\n", count_ready(ep, 0, &mask));
    for (int i = 0; i < N; i += 3) write(served[i], "x", 1);
    n = count_ready(ep, 1000, &mask);
    printf("readable after %d mask %x\n", n, mask);
    printf("still readable %d\n", count_ready(ep, 0, &mask));

    /* edge-triggered on the socketpairs: one event per arrival, none while nothing new comes */
    int et = epoll_create1(0);
    for (int i = 0; i < N; i++) {
        ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
        ev.data.u32 = 1000 + i;
        if (epoll_ctl(et, EPOLL_CTL_ADD, pairs[i][0], &ev) < 0) printf("epoll_ctl %d failed\n", i);
    }
    printf("edge idle %d\n", count_ready(et, 0, &mask));
    for (int i = 0; i < N; i += 2) write(pairs[i][1], "a", 1);
    printf("edge first %d\n", count_ready(et, 1000, &mask));
    printf("edge again %d\n", count_ready(et, 0, &mask));
    for (int i = 0; i < N; i += 4) write(pairs[i][1], "b", 1);
    printf("edge second %d\n", count_ready(et, 1000, &mask));
    for (int i = 0; i < N; i += 10) close(pairs[i][1]);
    n = count_ready(et, 1000, &mask);
    printf("edge hangups %d mask %x\n", n, mask);

    /* EPOLLONESHOT fires once until re-armed */
    int one = epoll_create1(0);
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u32 = 7;
    T(epoll_ctl(one, EPOLL_CTL_ADD, pairs[1][0], &ev));
    write(pairs[1][1], "c", 1);
    printf("oneshot %d\n", count_ready(one, 1000, &mask));
    write(pairs[1][1], "d", 1);
    printf("oneshot again %d\n", count_ready(one, 0, &mask));
    T(epoll_ctl(one, EPOLL_CTL_MOD, pairs[1][0], &ev));
    printf("rearmed %d\n", count_ready(one, 0, &mask));

    /* a child blocks in epoll_wait until the parent writes */
    pid_t kid = fork();
    if (kid == 0) {
        int w = epoll_create1(0);
        struct epoll_event e = {EPOLLIN, {.u32 = 42}}, got;
        epoll_ctl(w, EPOLL_CTL_ADD, pairs[3][0], &e);
        _exit(epoll_wait(w, &got, 1, 10000) == 1 && got.data.u32 == 42 ? 0 : 1);
    }
    usleep(50000);
    write(pairs[3][1], "wake", 4);
    int status;
    waitpid(kid, &status, 0);
    printf("child woke %d\n", WEXITSTATUS(status) == 0);

    /* closing every served socket: the clients see end of file */
    for (int i = 0; i < N; i++) close(served[i]);
    for (int i = 0; i < N; i++) {
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u32 = i;
        epoll_ctl(ep, EPOLL_CTL_MOD, clients[i], &ev);
    }
    n = count_ready(ep, 1000, &mask);
    printf("hung up %d mask %x\n", n, mask);
    return 0;
}
