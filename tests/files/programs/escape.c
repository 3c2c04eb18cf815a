/* Trying to leave the root: "..", symlinks to "/..", "../../..", absolute host paths. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static void where(const char *path) {
    char name[256] = "";
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) { printf("%s: %s\n", path, errname(errno)); return; }
    /* the root is recognised by its marker file */
    int m = openat(fd, "MARKER", O_RDONLY);
    if (m >= 0) { read(m, name, sizeof name - 1); close(m); }
    printf("%s -> %s", path, m >= 0 ? name : "(no marker)\n");
    close(fd);
}

int main(void) {
    where("/");
    where("/..");
    where("/../../..");
    where("/data/../../..");
    T(symlink("/..", "/tmp/up"));
    T(symlink("../../../../..", "/tmp/upup"));
    T(symlink("/etc/../../../", "/data/abs"));
    where("/tmp/up");
    where("/tmp/upup");
    where("/data/abs");
    where("/tmp/up/../..");
    T(chdir("/tmp/upup"));
    where(".");
    where("..");
    char cwd[256];
    T(getcwd(cwd, sizeof cwd) ? 0 : -1);
    printf("cwd %s\n", cwd);
    T(open("/proc/self/root/etc/shadow", O_RDONLY));
    T(open("/../../etc/shadow", O_RDONLY));
    T(open("/tmp/upup/etc/shadow", O_RDONLY));
    T(open("/root/.bashrc", O_RDONLY));
    int fd;
    T(fd = open("/tmp/upup/escaped", O_CREAT | O_WRONLY, 0644));
    T(write(fd, "x", 1));
    close(fd);
    T(access("/escaped", F_OK));
    T(unlink("/escaped"));
    T(rename("/data/abs", "/tmp/../../moved"));
    T(access("/moved", F_OK));
    T(unlink("/moved"));
    T(unlink("/tmp/up"));
    T(unlink("/tmp/upup"));
    return 0;
}
