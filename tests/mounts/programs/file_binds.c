/* Bind mounts of a file on a file (mount(2) MS_BIND): the same file through both names,
 * unlink and rename of the covered name EBUSY, a directory and a file never mixed (ENOTDIR),
 * and umount2 showing the covered file again. Run with CAP_SYS_ADMIN. Usage: file_binds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
static void show(const char *what, long r)
{
    if (r < 0)
        printf("%s: %ld %s\n", what, r, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, r);
}

static void cat(const char *path)
{
    char text[64] = {0};
    int fd = open(path, O_RDONLY);
    read(fd, text, sizeof text - 1);
    close(fd);
    printf("%s: %s", path, text);
}

int main(void)
{
    int fd = open("/tmp/a", O_CREAT|O_WRONLY|O_TRUNC, 0644); write(fd, "file a\n", 7); close(fd);
    fd = open("/tmp/b", O_CREAT|O_WRONLY|O_TRUNC, 0644); write(fd, "file b\n", 7); close(fd);
    mkdir("/tmp/d", 0755);
    show("bind a on b", mount("/tmp/a", "/tmp/b", NULL, MS_BIND, NULL));
    cat("/tmp/b");
    fd = open("/tmp/b", O_WRONLY|O_APPEND); write(fd, "more\n", 5); close(fd);
    cat("/tmp/a");
    show("unlink b", unlink("/tmp/b"));
    show("rename b", rename("/tmp/b", "/tmp/c"));
    show("bind a on a dir", mount("/tmp/a", "/tmp/d", NULL, MS_BIND, NULL));
    show("bind dir on b", mount("/tmp/d", "/tmp/b", NULL, MS_BIND, NULL));
    show("tmpfs on a file", mount("none", "/tmp/a", "tmpfs", 0, NULL));
    show("umount b", umount("/tmp/b"));
    cat("/tmp/b");
    show("umount b again", umount("/tmp/b"));
    return 0;
}
