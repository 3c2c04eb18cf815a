/* sendfile of a file onto its own end: Linux reads back, chunk after chunk, the bytes it just
 * wrote, so the file grows by its last bytes repeated; a limit met on the way ends the call
 * with the count moved so far, not an error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <unistd.h>

static volatile int xfsz;
static void on_xfsz(int sig) { (void)sig; xfsz++; }

static void grow(const char *name, off_t start, size_t count)
{
    int fd = open("/tmp/self", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "fuzz file contents\n", 19);
    off_t offset = start;
    ssize_t moved = sendfile(fd, fd, &offset, count);
    int error = errno;
    off_t size = lseek(fd, 0, SEEK_END);
    unsigned long sum = 0;
    unsigned char buf[65536];
    ssize_t n;
    off_t at = 0;
    while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + buf[i] + (at + i) % 7;
        at += n;
    }
    printf("%s: moved %zd%s%s, offset %lld, size %lld, sum %lx, SIGXFSZ %d\n", name, moved,
           moved < 0 ? " " : "", moved < 0 ? strerrorname_np(error) : "", (long long)offset, (long long)size,
           sum, xfsz);
    close(fd);
    unlink("/tmp/self");
}

int main(void)
{
    signal(SIGXFSZ, on_xfsz);
    grow("onto its end", 0, 2000000);
    grow("from the middle", 7, 100000);
    grow("past the end", 19, 100000);
    struct rlimit limit = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_FSIZE, &limit);
    grow("up to RLIMIT_FSIZE", 0, 4 << 20);
    return 0;
}
