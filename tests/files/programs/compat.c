/* Answers Linux gives that differed: getcwd of a path longer than PATH_MAX (ENAMETOOLONG, not
 * ERANGE), the old getdents (struct linux_dirent, d_type in its last byte), and the links of a
 * zombie's /proc directory (ENOENT). */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct linux_dirent { unsigned long d_ino; unsigned long d_off; unsigned short d_reclen; char d_name[]; };

static int by_name(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(void) {
    static char buf[16384];
    char name[200];
    memset(name, 'd', 199);
    name[199] = 0;
    T(mkdir("/tmp/deep", 0755));
    T(chdir("/tmp/deep"));
    for (int i = 0; i < 30; i++) {  /* 30 x 200 bytes: past PATH_MAX */
        if (mkdir(name, 0755) < 0 || chdir(name) < 0) { printf("level %d failed\n", i); return 1; }
    }
    T(syscall(SYS_getcwd, buf, sizeof buf));
    T(chdir("/"));

    T(mkdir("/tmp/list", 0755));
    T(close(open("/tmp/list/file", O_CREAT | O_WRONLY, 0644)));
    T(mkdir("/tmp/list/dir", 0755));
    T(symlink("file", "/tmp/list/link"));
    int fd = open("/tmp/list", O_RDONLY | O_DIRECTORY);
    long n = syscall(SYS_getdents, fd, buf, sizeof buf);
    char *names[16];
    int count = 0;
    for (long at = 0; at < n && count < 16;) {
        struct linux_dirent *d = (struct linux_dirent *)(buf + at);
        char *line = malloc(64);
        snprintf(line, 64, "%s type %d", d->d_name, buf[at + d->d_reclen - 1]);
        names[count++] = line;
        at += d->d_reclen;
    }
    qsort(names, count, sizeof names[0], by_name);
    for (int i = 0; i < count; i++) printf("getdents: %s\n", names[i]);
    T(syscall(SYS_getdents, fd, buf, 10));  /* too small for any entry... at the end: 0 */
    T(lseek(fd, 0, SEEK_SET));
    T(syscall(SYS_getdents, fd, buf, 10));  /* too small for the first: EINVAL */

    pid_t child = fork();
    if (child == 0) _exit(0);
    usleep(100000);
    char path[64], target[256];
    for (const char *link = "exe\0cwd\0root\0"; *link; link += strlen(link) + 1) {
        snprintf(path, sizeof path, "/proc/%d/%s", child, link);
        errno = 0;
        long r = readlink(path, target, sizeof target);
        printf("zombie %s: %ld %s\n", link, r, r < 0 ? errname(errno) : "");
    }
    int status;
    T(waitpid(child, &status, 0) == child);
    return 0;
}
