/* capset's rules (cap_capset), the ambient set (PR_CAP_AMBIENT), keepcaps and securebits, and
 * what each leaves a program after execve. */
#include "perm.h"

#define BIT(cap) (1ULL << (cap))

static u64 sets[3];

static void refresh(void) { capget3(0, sets); }

static void permitted_and_effective(void) {
    refresh();
    u64 p = sets[1];
    TRY(capset3(p & ~BIT(CAP_KILL), p, 0));
    TRY(capset3(p, p, 0));
    TRY(capset3(p & ~BIT(CAP_KILL), p & ~BIT(CAP_KILL), 0));
    TRY(capset3(p, p & ~BIT(CAP_KILL), 0));
    TRY(capset3(p & ~BIT(CAP_KILL), p, 0));
    show("permitted without kill");
    TRY(capset3(BIT(CAP_SYS_ADMIN), BIT(CAP_SYS_ADMIN), 0));
}

static void inheritable(void) {
    refresh();
    u64 p = sets[1];
    TRY(capset3(p, p, BIT(CAP_NET_BIND_SERVICE)));
    TRY(capset3(p, p, BIT(CAP_SYS_ADMIN)));
    /* Without CAP_SETPCAP: only what is permitted (or already inheritable). */
    TRY(capset3(p & ~BIT(CAP_SETPCAP), p & ~BIT(CAP_KILL), BIT(CAP_NET_BIND_SERVICE)));
    TRY(capset3(p & ~BIT(CAP_SETPCAP), p & ~BIT(CAP_KILL), BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_KILL)));
    show("inheritable");
}

static void headers(void) {
    refresh();
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, getppid()};
    struct __user_cap_data_struct data[2] = {{(__u32)sets[0], (__u32)sets[1], 0}, {0, 0, 0}};
    TRY(syscall(SYS_capset, &header, data));
    header.pid = getpid();
    TRY(syscall(SYS_capset, &header, data));
    header.version = 0x12345678;
    TRY(syscall(SYS_capset, &header, data));
    printf("version written back: %#x\n", header.version);
    header.version = _LINUX_CAPABILITY_VERSION_1;
    header.pid = 0;
    TRY(syscall(SYS_capset, &header, data));
    show("after a version 1 capset");
    TRY(syscall(SYS_capset, &header, (void *)8));
}

static void ambient(void) {
    refresh();
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
    TRY(capset3(sets[0], sets[1], BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW)));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 99, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 1, 0));
    TRY(prctl(PR_CAP_AMBIENT, 9, CAP_NET_BIND_SERVICE, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_RAW, 0, 0));
    show("ambient raised");
    char *argv[] = {"/bin/showcaps", "exec with an ambient capability", NULL};
    run(argv);
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0));
    TRY(capset3(sets[0], sets[1], 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0));
    TRY(capset3(sets[0], sets[1], BIT(CAP_NET_BIND_SERVICE)));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0));
}

static void ambient_survives_a_change_to_a_user(void) {
    /* keepcaps keeps the permitted set across setuid; then raising ambient makes it reach the
     * user's programs, as a service manager does. */
    refresh();
    TRY(capset3(sets[0], sets[1], BIT(CAP_NET_BIND_SERVICE)));
    TRY(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    TRY(setresgid(1000, 1000, 1000));
    TRY(setresuid(1000, 1000, 1000));
    TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
    show("user with keepcaps");
    char *argv[] = {"/bin/showcaps", "user's exec with an ambient capability", NULL};
    run(argv);
    char *setuid_argv[] = {"/bin/showcaps_suid_other", "a set-uid exec clears the ambient set", NULL};
    run(setuid_argv);
}

static void securebits(void) {
    TRY(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    TRY(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    TRY(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    TRY(prctl(PR_SET_SECUREBITS, 1 << 20, 0, 0, 0));
    TRY(prctl(PR_SET_SECUREBITS, 0x30, 0, 0, 0)); /* keepcaps, locked */
    TRY(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
    TRY(prctl(PR_SET_SECUREBITS, 0x10, 0, 0, 0));
    TRY(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    char *argv[] = {"/bin/showcaps", "keepcaps does not survive exec", NULL};
    run(argv);
    TRY(prctl(PR_SET_SECUREBITS, 0x31, 0, 0, 0)); /* and noroot */
    char *noroot[] = {"/bin/showcaps", "noroot: root gains nothing at exec", NULL};
    run(noroot);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    show("start");
    in_child("permitted and effective", permitted_and_effective);
    in_child("inheritable", inheritable);
    in_child("headers", headers);
    in_child("ambient", ambient);
    in_child("ambient for a user", ambient_survives_a_change_to_a_user);
    in_child("securebits", securebits);
    return 0;
}
