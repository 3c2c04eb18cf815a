/* Single entries of /proc/self and /proc/self/fd looked up by name, as tar's fchmodat falls back
 * to chmod("/proc/self/fd/N"): the entry that exists, one that does not, a closed fd, and fd
 * numbers spelt with a leading zero (not a name Linux gives an fd). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void look(const char *path) {
    struct stat st;
    int rc = lstat(path, &st);
    printf("lstat %s: %s\n", path, rc == 0 ? (S_ISLNK(st.st_mode) ? "link" : S_ISDIR(st.st_mode) ? "dir" : "file")
                                           : strerror(errno));
}

int main(void) {
    mkdir("/tmp/procfd", 0755);
    int dir = open("/tmp/procfd", O_PATH | O_DIRECTORY);
    char path[64], spelt[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", dir);
    printf("chmod through fd: %d\n", chmod(path, 0700));
    struct stat st;
    stat("/tmp/procfd", &st);
    printf("mode now: %o\n", st.st_mode & 07777);
    look(path);
    snprintf(spelt, sizeof spelt, "/proc/self/fd/0%d", dir);
    look(spelt);
    close(dir);
    look(path);
    look("/proc/self/fd/0");
    look("/proc/self/fd/00");
    look("/proc/self/fd/x");
    look("/proc/self/status");
    look("/proc/self/fd");
    look("/proc/self/no-such-entry");
    int fd = open("/proc/self/cmdline", O_RDONLY);
    char buf[64] = {0};
    printf("cmdline: %zd %s\n", read(fd, buf, sizeof buf - 1), buf);
    return 0;
}
