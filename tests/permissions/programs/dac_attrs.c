/* Attributes: chmod (owner or CAP_FOWNER; setgid dropped for a group one is not in without
 * CAP_FSETID), chown (CAP_CHOWN; the owner may pick one of its groups), utimes (owner, or
 * write permission for "now"), truncate, and set-id bits cleared by chown and by writes. */
#include "dac.h"

static int write_some(const char *path) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    int r = write(fd, "x", 1);
    close(fd);
    return r;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct timespec times[2] = {{1000000, 0}, {2000000, 0}};
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    TRY(chmod("/data/root_public", 0666));
    TRY(chmod("/data/user_file", 0600));
    TRY(chmod("/data/user_staff", 02755));
    owner("/data/user_staff");
    TRY(chmod("/data/other_private", 0644));
    TRY(chmod("/data/other_group", 02640));
    owner("/data/other_group");
    TRY(chown("/data/user_file", 1001, -1));
    TRY(chown("/data/user_file", -1, 1000));
    TRY(chown("/data/user_file", -1, 50));
    TRY(chown("/data/user_file", -1, -1));
    TRY(chown("/data/other_private", 0, 0));
    TRY(chown("/data/user_suid", -1, 1000));
    owner("/data/user_suid");
    TRY(utimensat(AT_FDCWD, "/data/root_world", NULL, 0));
    TRY(utimensat(AT_FDCWD, "/data/root_world", now, 0));
    TRY(utimensat(AT_FDCWD, "/data/root_public", NULL, 0));
    TRY(utimensat(AT_FDCWD, "/data/root_world", times, 0));
    TRY(utimensat(AT_FDCWD, "/data/other_private", times, 0));
    TRY(utimensat(AT_FDCWD, "/data/user_file", times, 0));
    TRY(utimes("/data/root_world", NULL));
    struct stat st;
    stat("/data/user_file", &st);
    printf("  user_file has the times set: %d\n", st.st_mtime == 2000000);
    TRY(truncate("/data/root_public", 1));
    TRY(truncate("/data/user_file", 2));
    TRY(write_some("/data/other_suid"));
    owner("/data/other_suid");
    TRY(write_some("/data/user_suid"));
    owner("/data/user_suid");
    owner("/data/user_file");
    owner("/data/other_private");
    return 0;
}
