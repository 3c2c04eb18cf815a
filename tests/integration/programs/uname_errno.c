/* Prints uname's sysname, or the errno it failed with (for the hook tests). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
int main(void) {
    struct utsname u;
    if (uname(&u) == 0)
        printf("sysname %s\n", u.sysname);
    else
        printf("uname failed: %s\n", strerror(errno));
    return 0;
}
