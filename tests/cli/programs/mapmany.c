/* Many tmpfs files, each read through a private mapping, one kept mapped shared throughout:
 * with the Sentry's fd limit far below the file count, idle files give up their memfds
 * (services/vfs/memfiles.py). A private mapping is a copy and holds nothing; the shared one
 * keeps its memfd. Prints what it read; the same on Linux. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
    int files = argc > 1 ? atoi(argv[1]) : 1500;
    char name[64], text[64];
    int shared_fd = open("/tmp/shared", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (shared_fd < 0 || ftruncate(shared_fd, 4096)) die("shared");
    char *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
    if (shared == MAP_FAILED) die("mmap shared");
    close(shared_fd);
    long sum = 0;
    for (int i = 0; i < files; i++) {
        snprintf(name, sizeof name, "/tmp/m%d", i);
        int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) die("create");
        int n = snprintf(text, sizeof text, "file %d\n", i);
        if (write(fd, text, n) != n) die("write");
        char *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) die("mmap private");
        if (memcmp(map, text, n)) { fprintf(stderr, "file %d mapped wrong\n", i); return 2; }
        sum += atoi(map + 5);
        munmap(map, n);
        close(fd);
        snprintf(shared, 4096, "last written %d", i);  /* through the shared mapping */
    }
    long again = 0;
    for (int i = 0; i < files; i++) {  /* every file read back, parked or not */
        snprintf(name, sizeof name, "/tmp/m%d", i);
        int fd = open(name, O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
        if (n <= 0) die("read back");
        text[n] = 0;
        again += atoi(text + 5);
        close(fd);
    }
    char seen[64] = {0};
    int fd = open("/tmp/shared", O_RDONLY);
    if (fd < 0 || read(fd, seen, sizeof seen - 1) < 0) die("read shared");
    printf("sum %ld again %ld shared '%s'\n", sum, again, seen);
    return 0;
}
