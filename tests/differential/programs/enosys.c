/* Unknown system calls fail with ENOSYS and the program goes on. */
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    ERRNO_OF("syscall 1000", syscall(1000));
    ERRNO_OF("syscall 511", syscall(511));
    ERRNO_OF("syscall -1", syscall(-1));
    printf("still alive\n");
    return 0;
}
