/* Search permission on every directory of a walk, reading directories, and access/faccessat
 * with the real ids or (AT_EACCESS) the effective ones; exec permission. */
#include "dac.h"

static void real_and_effective(void) {
    TRY(setresuid(1000, 1001, 0));
    TRY(access("/data/user_private", R_OK));
    TRY(faccessat(AT_FDCWD, "/data/user_private", R_OK, AT_EACCESS));
    TRY(syscall(SYS_faccessat2, AT_FDCWD, "/data/user_private", R_OK, AT_EACCESS));
    TRY(access("/data/other_private", R_OK));
    TRY(faccessat(AT_FDCWD, "/data/other_private", R_OK, AT_EACCESS));
    TRY(faccessat(AT_FDCWD, "/data/other_private", R_OK, 0));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    TRY(stat_ok("/data/locked/inner"));
    TRY(stat_ok("/data/searchonly/known"));
    TRY(opendir_ok("/data/searchonly"));
    TRY(opendir_ok("/data/locked"));
    TRY(opendir_ok("/home/other"));
    TRY(stat_ok("/home/other/anything"));
    TRY(chdir("/data/locked"));
    TRY(chdir("/data/searchonly"));
    TRY(stat_ok("known"));
    TRY(chdir("/"));
    TRY(access("/data/root_private", R_OK));
    TRY(access("/data/other_private", R_OK));
    TRY(access("/data/root_world", R_OK | W_OK));
    TRY(access("/data/root_public", W_OK));
    TRY(access("/data/root_public", X_OK));
    TRY(access("/bin/showcaps", X_OK));
    TRY(access("/data/root_exec_only", X_OK));
    TRY(access("/data/root_exec_only", R_OK));
    TRY(access("/data/locked/inner", F_OK));
    TRY(faccessat(AT_FDCWD, "/data/root_private", R_OK, AT_EACCESS));
    TRY(faccessat(AT_FDCWD, "/data/root_private", R_OK, 0x1000));
    char *root_only[] = {"/bin/showcaps_root_only", "a 0700 root program", NULL};
    run(root_only);
    char *exec_only[] = {"/data/root_exec_only", "a script one may run but not read", NULL};
    run(exec_only);
    in_child("real and effective", real_and_effective);
    return 0;
}
