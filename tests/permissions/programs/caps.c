/* capget: its header versions, its targets, and the capability sets after each kind of uid change
 * (cap_emulate_setxuid: leaving uid 0, keepcaps, seteuid there and back, setfsuid). */
#include "perm.h"

static void get_versions(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_1, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0xAA, sizeof data);
    TRY(syscall(SYS_capget, &header, data));
    printf("v1 effective %x, second word untouched: %d\n", data[0].effective, data[1].effective == 0xAAAAAAAAu);
    header.version = _LINUX_CAPABILITY_VERSION_2;
    TRY(syscall(SYS_capget, &header, data));
    header.version = 0x12345678;
    TRY(syscall(SYS_capget, &header, data));
    printf("the kernel's version: %#x\n", header.version);
    header.version = 0x12345678;
    TRY(syscall(SYS_capget, &header, NULL));
    printf("asked with no data: %#x\n", header.version);
    header.version = _LINUX_CAPABILITY_VERSION_3;
    TRY(syscall(SYS_capget, &header, NULL));
    header.pid = -1;
    TRY(syscall(SYS_capget, &header, data));
    header.pid = getpid();
    TRY(syscall(SYS_capget, &header, data));
    TRY(syscall(SYS_capget, (void *)8, data));
    header.pid = 0;
    TRY(syscall(SYS_capget, &header, (void *)8));
}

static void become_user(void) {
    TRY(setuid(1000));
    show("after setuid(1000)");
    TRY(setuid(0));
}

static void keepcaps(void) {
    TRY(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    TRY(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    TRY(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
    TRY(setresuid(1000, 1000, 1000));
    show("keepcaps, then setresuid(1000)");
    u64 sets[3];
    capget3(0, sets);
    TRY(capset3(sets[1], sets[1], 0));
    show("effective raised to permitted");
    TRY(setuid(0));
    TRY(setresuid(1000, 1000, 1000));
    TRY(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
}

static void effective_there_and_back(void) {
    TRY(setresuid(-1, 1000, -1));
    show("seteuid(1000)");
    TRY(setresuid(-1, 0, -1));
    show("seteuid(0)");
    TRY(setresuid(1000, 1000, 0));
    show("setresuid(1000, 1000, 0): saved uid 0");
    TRY(setresuid(-1, 0, -1));
    show("and back to euid 0");
    TRY(setreuid(1000, 1000));
    show("setreuid(1000, 1000)");
}

static void filesystem_uid(void) {
    printf("setfsuid(1000) returns %d\n", setfsuid(1000));
    show("fsuid 1000");
    printf("setfsuid(0) returns %d\n", setfsuid(0));
    show("fsuid 0 again");
    printf("setfsuid(4242) returns %d\n", setfsuid(4242));
    show("fsuid 4242");
}

static void noop_setresuid(void) {
    TRY(setresuid(-1, -1, -1));
    TRY(setresuid(getuid(), geteuid(), -1));
    show("no-op setresuid");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    show("start");
    get_versions();
    in_child("setuid", become_user);
    in_child("keepcaps", keepcaps);
    in_child("seteuid", effective_there_and_back);
    in_child("setfsuid", filesystem_uid);
    in_child("no-op", noop_setresuid);

    /* Another process's sets, and a process that is gone. */
    int ready[2], hold[2];
    pipe(ready);
    pipe(hold);
    pid_t child = fork();
    if (child == 0) {
        setuid(1000);
        write(ready[1], "x", 1);
        char byte;
        read(hold[0], &byte, 1);
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);
    u64 sets[3] = {0, 0, 0};
    TRY(capget3(child, sets));
    printf("child's sets: eff %llx prm %llx inh %llx\n", sets[0], sets[1], sets[2]);
    write(hold[1], "x", 1);
    waitpid(child, NULL, 0);
    TRY(capget3(child, sets));
    return 0;
}
