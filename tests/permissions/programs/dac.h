/* Helpers of the file permission programs: probe an open, show a file's owner and mode. */
#include "perm.h"
#include <dirent.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

/* Open and close at once: 0 or -1 with errno. */
static int probe(const char *path, int flags) {
    int fd = open(path, flags, 0640);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int stat_ok(const char *path) {
    struct stat st;
    return lstat(path, &st);
}

static int opendir_ok(const char *path) {
    DIR *dir = opendir(path);
    if (dir == NULL) return -1;
    closedir(dir);
    return 0;
}

static void owner(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) {
        printf("  %s: -1 %s\n", path, strerrorname_np(errno));
        return;
    }
    printf("  %s: mode %o uid %u gid %u size %lld\n", path, st.st_mode, st.st_uid, st.st_gid,
           (long long)st.st_size);
}
