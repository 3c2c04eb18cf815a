/* Identity: relations that hold in any pid namespace. */
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    pid_t pid = getpid();
    CHECK("pid positive", pid > 0);
    CHECK("single thread: tid is pid", syscall(SYS_gettid) == pid);
    CHECK("set_tid_address returns the tid", syscall(SYS_set_tid_address, NULL) == pid);
    CHECK("ppid differs", getppid() != pid);
    printf("uid %d euid %d gid %d egid %d\n", getuid(), geteuid(), getgid(), getegid());
    ERRNO_OF("set_robust_list bad length", syscall(SYS_set_robust_list, NULL, 7));
    return 0;
}
