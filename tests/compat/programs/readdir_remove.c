/* Removing what a directory listing has returned does not make the listing skip what follows:
 * rm -r's loop over a directory of many files (getdents64 with a small buffer, unlink each
 * entry read), and closing every fd /proc/self/fd lists (CPython's subprocess does, when
 * close_range cannot). With the argument "snapshot": a directory read while it changes (names
 * removed before the listing reached them are not returned, names made after it began are not
 * returned until a rewind, as Linux's tmpfs adds new names where a reader has already been). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static char seen[200];

static int number(const char *name, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 ? atoi(name + n) : -1;
}

/* A new directory /tmp/STEM-PID (its path into dir[64]) holding COUNT empty files named
 * file-N (N formatted by FORMAT), opened for reading. */
static int directory_of(char *dir, const char *stem, int count, const char *format) {
    char path[128], name[32];
    snprintf(dir, 64, "/tmp/%s-%d", stem, getpid());
    mkdir(dir, 0700);
    for (int i = 0; i < count; i++) {
        snprintf(name, sizeof name, format, i);
        snprintf(path, sizeof path, "%s/file-%s", dir, name);
        close(open(path, O_CREAT | O_WRONLY, 0600));
    }
    return open(dir, O_RDONLY | O_DIRECTORY);
}

static int snapshot(void) {
    char dir[64], path[128], buffer[256];
    int fd = directory_of(dir, "snapshot", 100, "%d");
    int returned = 0, made_returned = 0, removed_returned = 0, batches = 0;
    long got;
    while ((got = syscall(SYS_getdents64, fd, buffer, sizeof buffer)) > 0) {
        for (long at = 0; at < got;) {
            struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + at);
            int file = number(entry->d_name, "file-");
            if (file >= 0) {
                returned++;
                if (seen[file] == 2)
                    removed_returned++;
                seen[file] = 1;
            }
            if (number(entry->d_name, "made-") >= 0)
                made_returned++;
            at += entry->d_reclen;
        }
        if (++batches == 1) {  /* after the first batch: remove 20 names not yet returned, make 50 */
            int removed = 0;
            for (int i = 0; i < 100 && removed < 20; i++) {
                if (!seen[i]) {
                    snprintf(path, sizeof path, "%s/file-%d", dir, i);
                    unlink(path);
                    seen[i] = 2;
                    removed++;
                }
            }
            for (int i = 0; i < 50; i++) {
                snprintf(path, sizeof path, "%s/made-%d", dir, i);
                close(open(path, O_CREAT | O_WRONLY, 0600));
            }
        }
    }
    printf("first pass: %d of the first names, %d removed ones, %d made ones\n", returned, removed_returned,
           made_returned);
    lseek(fd, 0, SEEK_SET);
    int all = 0;
    while ((got = syscall(SYS_getdents64, fd, buffer, sizeof buffer)) > 0)
        for (long at = 0; at < got; at += ((struct linux_dirent64 *)(buffer + at))->d_reclen)
            all++;
    printf("after a rewind: %d entries\n", all);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "snapshot"))
        return snapshot();
    char dir[64], path[128];
    int fd = directory_of(dir, "many", 300, "%03d");
    char buf[256];  /* a few entries per call */
    int removed = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0) break;
        for (long at = 0; at < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + at);
            if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", dir, d->d_name);
                removed += unlink(path) == 0;
            }
            at += d->d_reclen;
        }
    }
    close(fd);
    printf("removed %d, rmdir %d\n", removed, rmdir(dir));

    for (int i = 0; i < 20; i++) open("/", O_RDONLY);
    fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    if (fd < 0)  /* a chroot without /proc (the native run here): close them by number */
        for (int i = 3; i < 64; i++) close(i);
    for (; fd >= 0;) {
        long n = syscall(SYS_getdents64, fd, buf, 64);  /* one entry per call */
        if (n <= 0) break;
        for (long at = 0; at < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + at);
            int number = atoi(d->d_name);
            if (d->d_name[0] != '.' && number > 2 && number != fd) close(number);
            at += d->d_reclen;
        }
    }
    int left = 0;
    for (int i = 3; i < 64; i++) left += i != fd && fcntl(i, F_GETFD) >= 0;
    printf("fds left open: %d\n", left);
    return 0;
}
