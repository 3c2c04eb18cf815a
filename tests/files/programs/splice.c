/* splice and tee between pipes and files; F_GETPIPE_SZ/F_SETPIPE_SZ. */
#include "check.h"
#include <fcntl.h>
#include <sys/types.h>

int main(void) {
    int a[2], b[2], f;
    char buf[64] = {0};
    T(pipe(a));
    T(pipe(b));
    T(fcntl(a[0], F_GETPIPE_SZ));
    T(fcntl(a[0], F_SETPIPE_SZ, 5000));
    T(fcntl(a[1], F_GETPIPE_SZ));
    T(fcntl(a[0], F_SETPIPE_SZ, 1 << 30));
    T(f = open("/data/existing", O_RDONLY));
    T(fcntl(f, F_GETPIPE_SZ));
    loff_t off = 5;
    T(splice(f, &off, a[1], NULL, 100, 0));
    printf("off %ld\n", (long)off);
    T(tee(a[0], b[1], 100, 0));
    T(read(b[0], buf, sizeof buf));
    printf("tee: %s", buf);
    int out;
    T(out = open("/tmp/out", O_CREAT | O_RDWR, 0644));
    T(splice(a[0], NULL, out, NULL, 4, 0));
    T(splice(a[0], NULL, out, NULL, 100, 0));
    memset(buf, 0, sizeof buf);
    T(pread(out, buf, sizeof buf, 0));
    printf("out: %s", buf);
    T(splice(f, NULL, out, NULL, 10, 0));
    T(splice(a[0], &off, out, NULL, 10, 0));
    T(tee(a[0], a[1], 10, 0));
    T(tee(a[0], b[1], 10, SPLICE_F_NONBLOCK));
    T(splice(a[0], NULL, b[1], NULL, 10, SPLICE_F_NONBLOCK));
    return 0;
}
