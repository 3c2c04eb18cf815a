/* Extended attributes: set/get/list/remove in their path, l*, f* and *xattrat forms, the
 * namespaces and their permissions, the size probing and the error cases.
 * Usage: xattrs CASE DIR (see main); DIR is where the test makes its files. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

struct xattr_args_v0 {
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

/* A listing, its names sorted (file systems list in their own order). */
static void show_list(const char *what, const char *list, long len)
{
    const char *names[64];
    int count = 0;
    if (len < 0) {
        show(what, len);
        return;
    }
    for (const char *p = list; p < list + len && count < 64; p += strlen(p) + 1)
        names[count++] = p;
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *swap = names[j];
            names[j] = names[j - 1];
            names[j - 1] = swap;
        }
    printf("%s: %ld [", what, len);
    for (int i = 0; i < count; i++)
        printf("%s%s", i ? " " : "", names[i]);
    printf("]\n");
    fflush(stdout);
}

static char path_buf[4][512];
static char *volatile bad_pointer = (char *)8;

static const char *in(const char *dir, int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s.%d", dir, name, (int)getpid());
    return path_buf[slot];
}

static void basics(const char *dir)
{
    const char *file = in(dir, 0, "xa-file");
    char buf[300];
    int fd = open(file, O_CREAT | O_RDWR | O_EXCL, 0644);
    show("create", fd);
    show("set user.a", setxattr(file, "user.a", "hello", 5, 0));
    show("get size 0", getxattr(file, "user.a", NULL, 0));
    show("get into 2 bytes", getxattr(file, "user.a", buf, 2));
    long n = getxattr(file, "user.a", buf, sizeof buf);
    show("get", n);
    printf("value: %.*s\n", (int)(n > 0 ? n : 0), buf);
    show("create existing", setxattr(file, "user.a", "x", 1, XATTR_CREATE));
    show("replace missing", setxattr(file, "user.zz", "x", 1, XATTR_REPLACE));
    show("replace existing", setxattr(file, "user.a", "bye", 3, XATTR_REPLACE));
    n = getxattr(file, "user.a", buf, sizeof buf);
    printf("value now: %.*s\n", (int)(n > 0 ? n : 0), buf);
    show("bad flags", setxattr(file, "user.a", "x", 1, 4));
    show("empty value", setxattr(file, "user.empty", "", 0, 0));
    show("get empty value", getxattr(file, "user.empty", buf, sizeof buf));
    show("empty name", setxattr(file, "", "x", 1, 0));
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    memcpy(long_name, "user.", 5);
    long_name[255] = 0;
    show("255-byte name", setxattr(file, long_name, "x", 1, 0));
    show("remove 255-byte name", removexattr(file, long_name));
    long_name[255] = 'n';
    long_name[256] = 0;
    show("256-byte name", setxattr(file, long_name, "x", 1, 0));
    show("get 256-byte name", getxattr(file, long_name, buf, sizeof buf));
    show("bare prefix", setxattr(file, "user.", "x", 1, 0));
    show("unknown prefix", setxattr(file, "foo.bar", "x", 1, 0));
    show("get unknown prefix", getxattr(file, "foo.bar", buf, sizeof buf));
    char *big = calloc(1, 65537);
    show("value past XATTR_SIZE_MAX", setxattr(file, "user.big", big, 65537, 0));
    free(big);
    show("bad value pointer", setxattr(file, "user.bad", bad_pointer, 4, 0));
    show("bad name pointer", getxattr(file, bad_pointer, buf, sizeof buf));
    show("get missing", getxattr(file, "user.missing", buf, sizeof buf));
    show("remove missing", removexattr(file, "user.missing"));
    show("get of a missing file", getxattr(in(dir, 1, "nothing"), "user.a", buf, sizeof buf));

    show("set user.b", setxattr(file, "user.b", "2", 1, 0));
    char list[512];
    show("list size 0", listxattr(file, NULL, 0));
    show("list into 4 bytes", listxattr(file, list, 4));
    show_list("list", list, listxattr(file, list, sizeof list));
    show("remove user.b", removexattr(file, "user.b"));
    show_list("list after remove", list, listxattr(file, list, sizeof list));

    show("fsetxattr", fsetxattr(fd, "user.fd", "f", 1, 0));
    show("fgetxattr", fgetxattr(fd, "user.fd", buf, sizeof buf));
    show_list("flistxattr", list, flistxattr(fd, list, sizeof list));
    show("fremovexattr", fremovexattr(fd, "user.fd"));
    show("fgetxattr bad fd", fgetxattr(-1, "user.fd", buf, sizeof buf));
    show("flistxattr bad fd", flistxattr(99, list, sizeof list));
    int path_fd = open(file, O_PATH);
    show("fgetxattr O_PATH", fgetxattr(path_fd, "user.a", buf, sizeof buf));
    close(path_fd);
    int ro = open(file, O_RDONLY);
    show("fsetxattr on an O_RDONLY fd", fsetxattr(ro, "user.ro", "r", 1, 0));
    close(ro);
    close(fd);

    const char *link = in(dir, 1, "xa-link");
    show("symlink", symlink(file, link));
    show("lsetxattr user on a symlink", lsetxattr(link, "user.l", "x", 1, 0));
    show("lgetxattr user on a symlink", lgetxattr(link, "user.a", buf, sizeof buf));
    show("llistxattr of a symlink", llistxattr(link, list, sizeof list));
    show("getxattr through a symlink", getxattr(link, "user.a", buf, sizeof buf));
    show("setxattr through a symlink", setxattr(link, "user.through", "t", 1, 0));
    show("unlink link", unlink(link));

    const char *fifo = in(dir, 1, "xa-fifo");
    show("mkfifo", mkfifo(fifo, 0644));
    show("set user on a FIFO", setxattr(fifo, "user.f", "x", 1, 0));
    show("get user of a FIFO", getxattr(fifo, "user.f", buf, sizeof buf));
    show("unlink fifo", unlink(fifo));

    const char *sub = in(dir, 1, "xa-dir");
    show("mkdir", mkdir(sub, 0755));
    show("set user on a directory", setxattr(sub, "user.d", "dir", 3, 0));
    show("get user of a directory", getxattr(sub, "user.d", buf, sizeof buf));
    show("rmdir", rmdir(sub));

    show("set trusted", setxattr(file, "trusted.t", "x", 1, 0));
    show("get trusted", getxattr(file, "trusted.t", buf, sizeof buf));
    show("set security.other", setxattr(file, "security.other", "x", 1, 0));
    show("remove security.other", removexattr(file, "security.other"));
    unsigned char caps[20] = {0};
    caps[3] = 2; /* VFS_CAP_REVISION_2, little endian */
    caps[4] = 1 << 2; /* CAP_DAC_READ_SEARCH permitted */
    show("security.capability of a bad size", setxattr(file, "security.capability", caps, 12, 0));
    caps[3] = 3;
    show("security.capability of a bad revision", setxattr(file, "security.capability", caps, 20, 0));
    caps[3] = 2;
    show("security.capability", setxattr(file, "security.capability", caps, 20, 0));
    show("get security.capability", getxattr(file, "security.capability", buf, sizeof buf));
    show_list("list with a capability", list, listxattr(file, list, sizeof list));
    show("remove security.capability", removexattr(file, "security.capability"));

    show("chmod 0444", chmod(file, 0444));
    show("set on a read-only file", setxattr(file, "user.ro2", "x", 1, 0));
    show("chmod 0", chmod(file, 0));
    show("get of an unreadable file", getxattr(file, "user.a", buf, sizeof buf));
    show_list("list of an unreadable file", list, listxattr(file, list, sizeof list));
    show("unlink", unlink(file));
}

static void sticky(const char *dir)
{
    char buf[16];
    show("set user on the sticky directory", setxattr(dir, "user.s", "x", 1, 0));
    show("get user of the sticky directory", getxattr(dir, "user.s", buf, sizeof buf));
}

static void trusted(const char *dir)
{
    const char *file = in(dir, 0, "xa-trusted");
    char buf[64], list[256];
    show("create", close(open(file, O_CREAT | O_WRONLY | O_EXCL, 0644)));
    show("set trusted", setxattr(file, "trusted.t", "secret", 6, 0));
    show("get trusted", getxattr(file, "trusted.t", buf, sizeof buf));
    show("set security.other", setxattr(file, "security.other", "x", 1, 0));
    show("set user", setxattr(file, "user.u", "u", 1, 0));
    show_list("list", list, listxattr(file, list, sizeof list));
    show("remove trusted", removexattr(file, "trusted.t"));
    show("remove security.other", removexattr(file, "security.other"));
    show("unlink", unlink(file));
}

static void at_calls(const char *dir)
{
    const char *file = in(dir, 0, "xa-at");
    char buf[64], list[256];
    int dirfd = open(dir, O_DIRECTORY | O_RDONLY);
    const char *base = strrchr(file, '/') + 1;
    show("create", close(open(file, O_CREAT | O_WRONLY | O_EXCL, 0644)));
    struct xattr_args_v0 args = {(uintptr_t)"at", 2, 0};
    show("setxattrat", syscall(463, dirfd, base, 0, "user.at", &args, sizeof args));
    args.flags = XATTR_CREATE;
    show("setxattrat XATTR_CREATE existing", syscall(463, dirfd, base, 0, "user.at", &args, sizeof args));
    show("setxattrat bad at_flags", syscall(463, dirfd, base, 0x800, "user.at", &args, sizeof args));
    show("setxattrat short args", syscall(463, dirfd, base, 0, "user.at", &args, 8));
    struct { struct xattr_args_v0 a; uint64_t extra; } longer = {{(uintptr_t)"x", 1, 0}, 1};
    show("setxattrat args with non-zero tail", syscall(463, dirfd, base, 0, "user.x", &longer, sizeof longer));
    longer.extra = 0;
    show("setxattrat args with zero tail", syscall(463, dirfd, base, 0, "user.x", &longer, sizeof longer));
    struct xattr_args_v0 get = {(uintptr_t)buf, sizeof buf, 0};
    long n = syscall(464, dirfd, base, 0, "user.at", &get, sizeof get);
    show("getxattrat", n);
    printf("value: %.*s\n", (int)(n > 0 ? n : 0), buf);
    get.flags = 1;
    show("getxattrat with flags", syscall(464, dirfd, base, 0, "user.at", &get, sizeof get));
    get.flags = 0;
    get.size = 0;
    show("getxattrat size 0", syscall(464, dirfd, base, 0, "user.at", &get, sizeof get));
    int fd = open(file, O_RDONLY);
    get.size = sizeof buf;
    show("getxattrat AT_EMPTY_PATH", syscall(464, fd, "", AT_EMPTY_PATH, "user.at", &get, sizeof get));
    show_list("listxattrat", list, syscall(465, dirfd, base, 0, list, sizeof list));
    show("removexattrat", syscall(466, dirfd, base, 0, "user.at"));
    show("removexattrat again", syscall(466, dirfd, base, 0, "user.at"));
    show("removexattrat AT_EMPTY_PATH", syscall(466, fd, "", AT_EMPTY_PATH, "user.x"));
    close(fd);
    close(dirfd);
    show("unlink", unlink(file));
}

/* A file keeps its attributes when renamed, written and truncated (under Sentrio's overlay,
 * when it is copied up). */
static void keep(const char *dir)
{
    const char *file = in(dir, 0, "xa-keep");
    const char *moved = in(dir, 1, "xa-moved");
    char buf[64];
    int fd = open(file, O_CREAT | O_WRONLY | O_EXCL, 0644);
    show("write", write(fd, "data", 4));
    close(fd);
    show("set", setxattr(file, "user.k", "kept", 4, 0));
    show("rename", rename(file, moved));
    fd = open(moved, O_WRONLY | O_TRUNC);
    show("write again", write(fd, "more", 4));
    close(fd);
    long n = getxattr(moved, "user.k", buf, sizeof buf);
    show("get after rename and write", n);
    printf("value: %.*s\n", (int)(n > 0 ? n : 0), buf);
    show("link", link(moved, file));
    show("get through the other name", getxattr(file, "user.k", buf, sizeof buf));
    show("unlink", unlink(file));
    show("unlink moved", unlink(moved));
}

/* One call, for tests that look at the host's file afterwards: get|set|remove|list PATH [NAME [VALUE]]. */
static int tool(int argc, char **argv)
{
    char buf[512];
    const char *what = argv[1], *path = argv[2];
    if (!strcmp(what, "get") && argc > 3) {
        long n = getxattr(path, argv[3], buf, sizeof buf);
        if (n < 0)
            show("get", n);
        else
            printf("%.*s\n", (int)n, buf);
    } else if (!strcmp(what, "set") && argc > 4) {
        show("set", setxattr(path, argv[3], argv[4], strlen(argv[4]), 0));
    } else if (!strcmp(what, "remove") && argc > 3) {
        show("remove", removexattr(path, argv[3]));
    } else if (!strcmp(what, "list")) {
        show_list("list", buf, listxattr(path, buf, sizeof buf));
    } else {
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && (!strcmp(argv[1], "get") || !strcmp(argv[1], "set") || !strcmp(argv[1], "remove")
                      || !strcmp(argv[1], "list")))
        return tool(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: xattrs CASE DIR\n");
        return 2;
    }
    const char *what = argv[1], *dir = argv[2];
    if (!strcmp(what, "basics"))
        basics(dir);
    else if (!strcmp(what, "sticky"))
        sticky(dir);
    else if (!strcmp(what, "trusted"))
        trusted(dir);
    else if (!strcmp(what, "at"))
        at_calls(dir);
    else if (!strcmp(what, "keep"))
        keep(dir);
    else {
        fprintf(stderr, "unknown case %s\n", what);
        return 2;
    }
    return 0;
}
