/* uname: the fields that are the same on every Linux. */
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    struct utsname u;
    CHECK("uname", uname(&u) == 0);
    printf("sysname %s\nmachine %s\n", u.sysname, u.machine);
    CHECK("release set", strlen(u.release) > 0 && strlen(u.version) > 0 && strlen(u.nodename) > 0);
    ERRNO_OF("bad pointer", syscall(SYS_uname, (void *)8));
    return 0;
}
