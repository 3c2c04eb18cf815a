/* Set-user-id and set-group-id programs at execve, and what no_new_privs, a differing effective
 * uid, the parent-death signal, dumpable and RLIMIT_STACK become across an exec. */
#include "perm.h"
#include <sys/resource.h>

static void exec_all(void) {
    char *plain[] = {"/bin/showcaps", "plain", NULL};
    char *suid[] = {"/bin/showcaps_suid", "setuid root", NULL};
    char *suid_other[] = {"/bin/showcaps_suid_other", "setuid other", NULL};
    char *sgid[] = {"/bin/showcaps_sgid", "setgid staff", NULL};
    char *sgid_noxgrp[] = {"/bin/showcaps_sgid_noxgrp", "setgid without group x", NULL};
    run(plain);
    run(suid);
    run(suid_other);
    run(sgid);
    run(sgid_noxgrp);
}

static void no_new_privs(void) {
    TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    exec_all();
}

static void effective_differs(void) {
    TRY(setresuid(-1, 1001, -1));
    char *plain[] = {"/bin/showcaps", "euid 1001 execs a plain program", NULL};
    run(plain);
    TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    char *again[] = {"/bin/showcaps", "the same under no_new_privs", NULL};
    run(again);
}

static void nothing_regained(void) {
    TRY(setresuid(-1, 1001, -1));
    TRY(capset3(0, 0, 0));
    TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    char *plain[] = {"/bin/showcaps", "root regains nothing under no_new_privs, and its euid goes back", NULL};
    run(plain);
}

static void set_inherited_state(void) {
    TRY(prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0));
    TRY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    struct rlimit big = {64 << 20, RLIM_INFINITY};
    TRY(setrlimit(RLIMIT_STACK, &big));
    pid_t child = fork();
    if (child == 0) {
        printf("a child: pdeathsig cleared, dumpable %d\n", prctl(PR_GET_DUMPABLE));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    fflush(stdout);
}

static void plain_exec_state(void) {
    set_inherited_state();
    execl("/bin/showcaps", "showcaps", "plain keeps pdeathsig and stack, dumpable again", NULL);
}

static void setuid_exec_state(void) {
    set_inherited_state();
    execl("/bin/showcaps_suid_other", "showcaps", "set-uid clears pdeathsig, caps the stack", NULL);
}

static void uid_change_clears(void) {
    TRY(prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0));
    TRY(setresuid(-1, 1001, -1));
    int sig = -1;
    prctl(PR_GET_PDEATHSIG, &sig);
    printf("after seteuid: pdeathsig %d dumpable %d\n", sig, prctl(PR_GET_DUMPABLE));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    show("start");
    exec_all();
    in_child("no_new_privs", no_new_privs);
    in_child("effective differs from real", effective_differs);
    in_child("nothing regained", nothing_regained);
    in_child("state across a plain exec", plain_exec_state);
    in_child("state across a set-uid exec", setuid_exec_state);
    in_child("a uid change", uid_change_clears);
    return 0;
}
