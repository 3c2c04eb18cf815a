/* Under --read-only every change to the image fails with EROFS; reads still work. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
    char buf[32] = {0};
    int fd;
    T(fd = open("/data/existing", O_RDONLY));
    T(read(fd, buf, sizeof buf - 1));
    printf("read: %s", buf);
    close(fd);
    T(open("/data/existing", O_WRONLY));
    T(open("/data/new", O_CREAT | O_WRONLY, 0644));
    T(mkdir("/data/dir", 0755));
    T(unlink("/data/existing"));
    T(rename("/data/existing", "/data/other"));
    T(symlink("x", "/data/link"));
    T(chmod("/data/existing", 0600));
    T(truncate("/data/existing", 0));
    T(access("/data/existing", W_OK));
    T(fd = open("/tmp/scratch", O_CREAT | O_WRONLY, 0644));
    T(write(fd, "ok", 2));
    return 0;
}
