/* Changes everywhere in the image: append, truncate, chmod, delete, rename, create. Then shows
 * the result as the sandbox sees it. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

static void cat(const char *path) {
    char buf[128] = {0}; int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("cat %s: %s\n", path, errname(errno)); return; }
    read(fd, buf, sizeof buf - 1); close(fd); printf("cat %s: %s", path, buf);
}

int main(void) {
    int fd;
    T(fd = open("/data/existing", O_WRONLY | O_APPEND));
    T(write(fd, "appended\n", 9));
    T(close(fd));
    T(chmod("/data/existing", 0600));
    T(unlink("/MARKER"));
    T(rename("/data", "/data2"));
    T(mkdir("/new", 0755));
    T(fd = open("/new/file", O_CREAT | O_WRONLY, 0644));
    T(write(fd, "new file\n", 9));
    T(close(fd));
    T(symlink("/data2/existing", "/new/link"));
    T(truncate("/etc", 0));
    cat("/data2/existing");
    cat("/new/link");
    cat("/MARKER");
    cat("/data/existing");
    struct stat st;
    T(stat("/data2/existing", &st) == 0 ? (long)(st.st_mode & 0777) : -1);
    return 0;
}
