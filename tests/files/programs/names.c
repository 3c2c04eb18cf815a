/* The namespace: mkdir, rmdir, unlink, rename, link, symlink, readlink, getdents, chdir, getcwd. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { printf("opendir %s: %s\n", dir, errname(errno)); return; }
    char *names[256]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 256) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("ls %s:", dir);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

static void touch(const char *path) { int fd = open(path, O_CREAT | O_WRONLY, 0644); write(fd, path, strlen(path)); close(fd); }

static void cat(const char *path) {
    char buf[128] = {0}; int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("cat %s: %s\n", path, errname(errno)); return; }
    read(fd, buf, sizeof buf - 1); close(fd); printf("cat %s: %s\n", path, buf);
}

static void body(const char *base) {
    char p[512], q[512], cwd[512];
    printf("== %s\n", base);
    T(chdir(base));
    T(mkdir("d", 0755));
    T(mkdir("d", 0755));
    T(mkdir("d/e/f", 0755));
    T(mkdir("d/e", 0700));
    touch("d/e/file");
    T(mkdir("d/e/file/x", 0755));
    T(rmdir("d/e"));
    T(rmdir("d/e/file"));
    T(unlink("d/e"));
    T(unlink("d/e/file/"));
    T(rmdir("d/."));
    T(rmdir("d/.."));
    T(link("d/e/file", "d/hard"));
    T(link("d", "d/dirlink"));
    T(symlink("e/file", "d/sym"));
    T(symlink("nowhere", "d/dangling"));
    T(symlink("loop2", "d/loop1"));
    T(symlink("loop1", "d/loop2"));
    T(symlink("x", "d/sym"));
    memset(p, 0, sizeof p);
    T(readlink("d/sym", p, sizeof p));
    printf("readlink: %s\n", p);
    T(readlink("d/hard", p, sizeof p));
    T(readlink("d/sym", p, 0));
    cat("d/sym");
    cat("d/dangling");
    cat("d/loop1");
    T(open("d/sym/", O_RDONLY));
    T(open("d/loop1", O_RDONLY | O_NOFOLLOW));
    T(open("d/sym", O_RDONLY | O_NOFOLLOW));
    T(open("d/dangling", O_CREAT | O_WRONLY, 0644));
    cat("d/nowhere");
    list("d");
    list("d/e");
    T(rename("d/hard", "d/renamed"));
    T(rename("d/renamed", "d/e/file"));
    T(rename("d/missing", "d/x"));
    T(rename("d/e", "d/e/sub"));
    T(rename("d/e", "d/sym"));
    T(mkdir("d/empty", 0755));
    T(mkdir("d/full", 0755));
    touch("d/full/x");
    T(rename("d/empty", "d/full"));
    T(rename("d/full", "d/empty"));
    list("d");
    T(syscall(SYS_renameat2, AT_FDCWD, "d/sym", AT_FDCWD, "d/dangling", 1));
    T(syscall(SYS_renameat2, AT_FDCWD, "d/sym", AT_FDCWD, "d/dangling", 2));
    memset(p, 0, sizeof p);
    T(readlink("d/dangling", p, sizeof p));
    printf("exchanged: %s\n", p);
    T(chdir("d/e"));
    T(getcwd(cwd, sizeof cwd) ? 0 : -1);
    printf("cwd: %s\n", cwd);
    T(getcwd(cwd, 2) ? 0 : -1);
    T(chdir("../.."));
    T(chdir("d/e/file"));
    T(chdir("nope"));
    int dfd;
    T(dfd = open("d", O_RDONLY | O_DIRECTORY));
    T(mkdirat(dfd, "at", 0755));
    T(fchdir(dfd));
    T(getcwd(cwd, sizeof cwd) ? 0 : -1);
    printf("cwd: %s\n", cwd);
    T(chdir(".."));
    T(unlinkat(dfd, "at", 0));
    T(unlinkat(dfd, "at", AT_REMOVEDIR));
    T(unlinkat(dfd, "e/file", 0));
    T(faccessat(dfd, "dangling", F_OK, 0));
    T(faccessat(dfd, "loop1", F_OK, AT_SYMLINK_NOFOLLOW));
    T(faccessat(dfd, "loop1", F_OK, 0));
    int ffd = open("d/sym", O_RDONLY);
    T(mkdirat(ffd, "x", 0755));
    close(ffd);
    close(dfd);
    /* long names and paths */
    memset(p, 'n', 300); p[300] = 0;
    T(mkdir(p, 0755));
    memset(q, 0, sizeof q);
    for (int i = 0; i < 200; i++) strcat(q, "d/");
    T(access(q, F_OK));
    char *big = malloc(5000); memset(big, 'a', 4999); big[4999] = 0;
    T(access(big, F_OK));
    free(big);
    T(access((char *)8, F_OK));
    T(access("", F_OK));
    T(mkdir("d/e/file/", 0755));
    /* clean up, bottom up */
    T(unlink("d/sym"));
    T(unlink("d/dangling"));
    T(unlink("d/nowhere"));
    T(unlink("d/loop1"));
    T(unlink("d/loop2"));
    T(unlink("d/full/x"));
    T(rmdir("d/full"));
    T(rmdir("d/e/"));
    T(rmdir("d"));
    T(unlink("d/renamed"));
    T(rmdir("d"));
    list(".");
}

int main(void) {
    body("/tmp");
    body("/data");
    list("/data");
    return 0;
}
