/* Readiness in one process: poll, select, epoll (level, edge, oneshot) and eventfd. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>

int main(void) {
    int p[2];
    T(pipe(p));
    struct pollfd fds[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {99, POLLIN, 0}};
    T(poll(fds, 3, 0));
    printf("revents %x %x %x\n", fds[0].revents, fds[1].revents, fds[2].revents);
    T(write(p[1], "x", 1));
    T(poll(fds, 2, 10));
    printf("revents %x %x\n", fds[0].revents, fds[1].revents);
    fd_set r, w;
    FD_ZERO(&r); FD_ZERO(&w); FD_SET(p[0], &r); FD_SET(p[1], &w);
    struct timeval tv = {0, 0};
    T(select(p[1] + 1, &r, &w, NULL, &tv));
    printf("isset %d %d\n", FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
    FD_ZERO(&r); FD_SET(50, &r);
    T(select(51, &r, NULL, NULL, &tv));
    char c;
    T(read(p[0], &c, 1));
    T(poll(fds, 1, 20));
    int ep;
    T(ep = epoll_create1(EPOLL_CLOEXEC));
    struct epoll_event ev = {EPOLLIN, {.u64 = 7}}, out[4];
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_MOD, 1234, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    int f = open("/data/existing", O_RDONLY);
    T(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev));
    T(epoll_wait(ep, out, 4, 0));
    T(write(p[1], "ab", 2));
    T(epoll_wait(ep, out, 4, 0));
    printf("event %x data %lu\n", out[0].events, (unsigned long)out[0].data.u64);
    T(epoll_wait(ep, out, 4, 0));
    ev.events = EPOLLIN | EPOLLET;
    T(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    T(epoll_wait(ep, out, 4, 0));
    T(epoll_wait(ep, out, 4, 0));
    T(write(p[1], "c", 1));
    T(epoll_wait(ep, out, 4, 0));
    ev.events = EPOLLIN | EPOLLONESHOT;
    T(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    T(epoll_wait(ep, out, 4, 0));
    T(epoll_wait(ep, out, 4, 0));
    T(epoll_wait(ep, out, 0, 0));
    T(epoll_wait(p[0], out, 1, 0));
    int e;
    T(e = eventfd(3, EFD_NONBLOCK));
    uint64_t v = 0;
    T(read(e, &v, 8));
    printf("eventfd %lu\n", (unsigned long)v);
    T(read(e, &v, 8));
    T(read(e, &v, 4));
    v = 5;
    T(write(e, &v, 8));
    ev.events = EPOLLIN | EPOLLET; ev.data.u64 = 9;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev));
    T(epoll_wait(ep, out, 4, 0));
    printf("data %lu\n", (unsigned long)out[0].data.u64);
    T(epoll_wait(ep, out, 4, 0));
    v = 0;
    T(write(e, &v, 8));
    T(epoll_wait(ep, out, 4, 0));
    int s;
    T(s = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK));
    v = 2; write(s, &v, 8);
    T(read(s, &v, 8));
    printf("sem %lu\n", (unsigned long)v);
    T(eventfd(0, 0x4321));
    T(close(p[1]));
    T(poll(fds, 1, 0));
    printf("hup %x\n", fds[0].revents);
    T(epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));
    T(epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));
    /* Anonymous inodes have no file type: stat says "weird file", and calls that need a
       regular file refuse them. */
    struct stat st;
    int anon[2] = {e, ep};
    for (int i = 0; i < 2; i++) {
        T(fstat(anon[i], &st));
        printf("anon mode %o\n", (unsigned)st.st_mode);
    }
    int memfd;
    T(memfd = memfd_create("sink", 0));
    T(copy_file_range(e, NULL, memfd, NULL, 4096, 0));
    T(copy_file_range(memfd, NULL, e, NULL, 4096, 0));
    T(lseek(e, 0, SEEK_SET));
    return 0;
}
