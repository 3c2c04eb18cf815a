/* The bounding set: reading it, dropping from it (CAP_SETPCAP), and what it bounds at exec. */
#include "perm.h"

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    show("start");
    TRY(prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_READ, 41, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_READ, -1, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_DROP, 99, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_DROP, CAP_KILL, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_DROP, CAP_KILL, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0));
    show("kill dropped from the bounding set: still effective");
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &header, data);
    data[0].inheritable = 1u << CAP_KILL;
    TRY(syscall(SYS_capset, &header, data));
    char *argv[] = {"/bin/showcaps", "exec after the drop", NULL};
    run(argv);
    pid_t child = fork();
    if (child == 0) {
        show("a child inherits the bounding set");
        _exit(0);
    }
    waitpid(child, NULL, 0);
    TRY(prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0));
    TRY(prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0));
    show("setpcap dropped from the bounding set, then chown");
    char *again[] = {"/bin/showcaps", "exec without setpcap", NULL};
    run(again);
    return 0;
}
