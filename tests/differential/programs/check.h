/* Shared by the differential programs: print a check's outcome, never raw addresses or times. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Print "name: ok" when the expression holds, else "name: FAILED" with errno's name. */
#define CHECK(name, expr) \
    do { errno = 0; int ok_ = (expr); \
         printf("%s: %s\n", name, ok_ ? "ok" : "FAILED"); \
         if (!ok_) printf("  errno %d (%s)\n", errno, strerror(errno)); } while (0)
/* Print the errno a call failed with (or "success"). */
#define ERRNO_OF(name, call) \
    do { errno = 0; long r_ = (long)(call); \
         printf("%s: %s\n", name, r_ == -1 ? strerror(errno) : "success"); } while (0)
