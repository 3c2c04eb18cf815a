/* Opens a new name in /data every 10 ms (each open asks the gofer: no name is cached) and prints
 * how it went, until an open fails with EIO; then five more opens and a read of /data/g. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *outcome(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        close(fd);
        return "opened";
    }
    return errno == ENOENT ? "ENOENT" : errno == EIO ? "EIO" : strerror(errno);
}

int main(void) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    char path[64], data[16] = {0};
    int after = -1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < 3000 && after < 5; i++) {
        snprintf(path, sizeof path, "/data/nope-%d", i);
        const char *result = outcome(path);
        printf("%d %s\n", i, result);
        if (after >= 0 || strcmp(result, "EIO") == 0)
            after++;
        nanosleep(&pause, NULL);
    }
    int fd = open("/data/g", O_RDONLY);
    if (fd < 0 || read(fd, data, sizeof data - 1) < 0)
        return printf("read /data/g: %s\n", strerror(errno)), 1;
    printf("read /data/g: %s", data);
    return after < 5;
}
