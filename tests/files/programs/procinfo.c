/* /proc/self/fdinfo and /proc/self/mountinfo as a process sees them. */
#include "check.h"
#include <fcntl.h>

static void show(const char *path) {
    char buf[2048] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("%s: %s\n", path, errname(errno)); return; }
    read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s:\n%s", path, buf);
}

int main(void) {
    int fd = open("/data/existing", O_RDONLY | O_CLOEXEC);
    char c[4];
    read(fd, c, 4);
    show("/proc/self/fdinfo/3");
    show("/proc/self/mountinfo");
    return 0;
}
