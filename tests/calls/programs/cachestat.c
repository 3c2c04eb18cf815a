/* cachestat: the page-cache state of a range of a file. A file just written and synced is all
 * cached and nothing dirty; the range is clipped to the file; errors for flags, bad fds,
 * bad addresses. Usage: cachestat */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "show.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct range { uint64_t off, len; };
struct stats { uint64_t cache, dirty, writeback, evicted, recently_evicted; };

static long cachestat(int fd, struct range *r, struct stats *s, unsigned flags)
{
    return syscall(SYS_cachestat, fd, r, s, flags);
}

static void range(int fd, uint64_t off, uint64_t len, const char *what)
{
    struct range r = {off, len};
    struct stats s = {9, 9, 9, 9, 9};
    long ret = cachestat(fd, &r, &s, 0);
    show(what, ret);
    if (ret == 0)
        printf("  cache %lu dirty %lu writeback %lu evicted %lu recently %lu\n", (unsigned long)s.cache,
               (unsigned long)s.dirty, (unsigned long)s.writeback, (unsigned long)s.evicted,
               (unsigned long)s.recently_evicted);
}

int main(void)
{
    int fd = open("/tmp/cachestat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[4096];
    memset(page, 'x', sizeof page);
    for (int i = 0; i < 5; i++)
        write(fd, page, sizeof page);
    write(fd, page, 100); /* a sixth, partial page */
    fsync(fd);
    range(fd, 0, 0, "whole file (len 0)");
    range(fd, 0, 4096, "first page");
    range(fd, 4095, 2, "straddling two pages");
    range(fd, 8192, 1 << 30, "past the end");
    range(fd, 1 << 30, 4096, "wholly past the end");
    struct range r = {0, 0};
    struct stats s;
    show("flags", cachestat(fd, &r, &s, 1));
    show("bad fd", cachestat(99, &r, &s, 0));
    show("bad range address", cachestat(fd, (struct range *)8, &s, 0));
    show("bad stats address", cachestat(fd, &r, (struct stats *)8, 0));
    int empty = open("/tmp/cachestat-empty", O_RDWR | O_CREAT | O_TRUNC, 0600);
    range(empty, 0, 0, "empty file");
    int p[2];
    pipe(p);
    range(p[0], 0, 0, "pipe");
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    range(dir, 0, 0, "directory");
    int path = open("/tmp/cachestat", O_PATH);
    range(path, 0, 0, "O_PATH");
    return 0;
}
