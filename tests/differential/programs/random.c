/* getrandom: sizes, flags, errors. */
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

static int nonzero(const unsigned char *b, int n) { int any = 0; for (int i = 0; i < n; i++) any |= b[i]; return any; }

int main(void) {
    unsigned char buf[256] = {0};
    CHECK("getrandom 0 bytes", getrandom(buf, 0, 0) == 0);
    CHECK("getrandom 16 bytes", getrandom(buf, 16, 0) == 16 && nonzero(buf, 16));
    CHECK("getrandom 256 bytes nonblocking", getrandom(buf, 256, GRND_NONBLOCK) == 256 && nonzero(buf, 256));
    CHECK("GRND_RANDOM", getrandom(buf, 8, GRND_RANDOM) == 8);
    ERRNO_OF("bad flags", syscall(SYS_getrandom, buf, 8, 0x40));
    ERRNO_OF("INSECURE with RANDOM", syscall(SYS_getrandom, buf, 8, 0x4 | 0x2));
    ERRNO_OF("bad buffer", syscall(SYS_getrandom, (void *)16, 8, 0));
    return 0;
}
