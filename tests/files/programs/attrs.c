/* Attributes: stat/lstat/fstat, chmod, chown, utimensat, access, umask, statx, truncate. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

static void show(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) { printf("lstat %s: %s\n", path, errname(errno)); return; }
    printf("%s: mode %o uid %d gid %d size %ld", path, st.st_mode, st.st_uid, st.st_gid,
           S_ISDIR(st.st_mode) ? 0L : (long)st.st_size);
    if (st.st_mtim.tv_sec < 100000)  /* a time the program set; "now" differs from run to run */
        printf(" mtime %ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    else
        printf(" mtime now\n");
}

static void body(const char *base) {
    printf("== %s\n", base);
    T(chdir(base));
    T(umask(077));
    T(umask(022));
    int fd;
    T(fd = open("a", O_CREAT | O_RDWR, 0777));
    T(write(fd, "12345", 5));
    show("a");
    T(chmod("a", 04711));
    T(fchmod(fd, 0600));
    T(chown("a", 12, 34));
    T(fchown(fd, -1, 56));
    struct timespec ts[2] = {{1000, 5}, {2000, 6}};
    T(utimensat(AT_FDCWD, "a", ts, 0));
    show("a");
    struct timespec omit[2] = {{0, UTIME_OMIT}, {3000, 0}};
    T(futimens(fd, omit));
    show("a");
    struct timespec bad[2] = {{0, 2000000000}, {0, 0}};
    T(utimensat(AT_FDCWD, "a", bad, 0));
    T(symlink("a", "l"));
    T(lchown("l", 7, 8));
    show("l");
    struct stat st;
    T(stat("l", &st));
    printf("stat via link: uid %d size %ld\n", st.st_uid, (long)st.st_size);
    T(fstatat(AT_FDCWD, "l", &st, AT_SYMLINK_NOFOLLOW));
    printf("fstatat nofollow: link? %d\n", S_ISLNK(st.st_mode));
    T(fstatat(fd, "", &st, AT_EMPTY_PATH));
    printf("empty path: size %ld\n", (long)st.st_size);
    T(fstatat(fd, "x", &st, 0));
    T(fstatat(AT_FDCWD, "a", &st, 0x12345));
    struct statx sx;
    T(statx(AT_FDCWD, "a", 0, STATX_BASIC_STATS, &sx));
    printf("statx: mode %o size %llu uid %u mtime %lld\n", sx.stx_mode, sx.stx_size, sx.stx_uid,
           (long long)sx.stx_mtime.tv_sec);
    T(truncate("a", 2));
    T(truncate(".", 2));
    T(truncate("a", -1));
    show("a");
    T(access("a", R_OK | W_OK));
    T(access("a", X_OK));
    T(access("a", 0x40));
    T(access(".", X_OK));
    T(mkdir("sub", 0777));
    show("sub");
    T(stat("a/", &st));
    T(stat("missing", &st));
    T(stat((char *)16, &st));
    T(stat("a", (struct stat *)16));
    struct statfs sf;
    T(statfs(".", &sf) == 0 ? sf.f_namelen : -1);
    T(close(fd));
    T(fstat(fd, &st));
    T(unlink("l"));
    T(unlink("a"));
    T(rmdir("sub"));
}

int main(void) {
    body("/tmp");
    body("/data");
    return 0;
}
