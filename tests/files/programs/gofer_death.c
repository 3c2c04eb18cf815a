/* Reads a file, says "ready", waits for a line on stdin (the test kills the gofer meanwhile),
 * then touches the file system again: every call that needs the gofer fails with EIO. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
    char buf[64];
    struct stat st;
    int fd;
    T(fd = open("/data/existing", O_RDONLY));
    T(read(fd, buf, 4));
    printf("ready\n");
    fflush(stdout);
    T(read(0, buf, sizeof buf) > 0);
    T(open("/data/existing", O_RDONLY));
    T(stat("/etc/never-looked-up", &st));
    T(pread(fd, buf, 4, 0));
    T(open("/tmp/still-works", O_CREAT | O_WRONLY, 0644));
    return 0;
}
