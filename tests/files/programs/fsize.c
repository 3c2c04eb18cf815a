/* RLIMIT_FSIZE: a write crossing the limit is cut short at it, one starting at it fails with
 * EFBIG and SIGXFSZ; truncate, ftruncate and fallocate past it fail with EFBIG. */
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>

static volatile sig_atomic_t xfsz;
static void on_xfsz(int sig) { (void)sig; xfsz++; }

int main(void) {
    static char block[8192];
    struct rlimit limit = {10000, RLIM_INFINITY};
    signal(SIGXFSZ, on_xfsz);
    T(setrlimit(RLIMIT_FSIZE, &limit));
    int fd = open("/tmp/fsize", O_CREAT | O_RDWR | O_TRUNC, 0600);
    T(write(fd, block, sizeof block));
    T(write(fd, block, sizeof block));  /* 8192 + 1808: cut short at the limit */
    T(write(fd, block, 1));             /* at the limit: EFBIG and SIGXFSZ */
    printf("SIGXFSZ %d\n", (int)xfsz);
    T(pwrite(fd, block, 10, 20000));
    T(pwrite(fd, block, 10, 100));      /* below the limit: fine */
    T(ftruncate(fd, 20000));
    T(ftruncate(fd, 5000));
    T(truncate("/tmp/fsize", 10001));
    T(fallocate(fd, 0, 9000, 2000));
    T(lseek(fd, 0, SEEK_END));
    printf("SIGXFSZ %d\n", (int)xfsz);
    signal(SIGXFSZ, SIG_IGN);             /* ignored: EFBIG alone */
    T(lseek(fd, 10000, SEEK_SET));
    T(write(fd, block, 1));
    printf("SIGXFSZ %d\n", (int)xfsz);
    return 0;
}
