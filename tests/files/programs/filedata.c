/* sendfile, copy_file_range, fallocate, memfd_create, flock, utimes. */
#include "check.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/time.h>

int main(void) {
    int in, out;
    char buf[64] = {0};
    T(in = open("/data/existing", O_RDONLY));
    T(out = open("/tmp/copy", O_CREAT | O_RDWR, 0644));
    off_t off = 5;
    T(sendfile(out, in, &off, 100));
    printf("off %ld\n", (long)off);
    T(lseek(in, 0, SEEK_CUR));
    T(sendfile(out, in, NULL, 4));
    T(lseek(in, 0, SEEK_CUR));
    T(pread(out, buf, sizeof buf - 1, 0));
    printf("copy: %s\n", buf);
    loff_t a = 0, b = 100;
    T(copy_file_range(in, &a, out, &b, 4, 0));
    printf("a %ld b %ld\n", (long)a, (long)b);
    T(copy_file_range(in, NULL, out, NULL, 4, 1));
    T(fallocate(out, 0, 0, 8192));
    struct stat st;
    T(fstat(out, &st));
    printf("size %ld\n", (long)st.st_size);
    T(fallocate(out, FALLOC_FL_KEEP_SIZE, 0, 100000));
    T(fstat(out, &st));
    printf("size %ld\n", (long)st.st_size);
    T(fallocate(in, 0, 0, 10));
    T(fallocate(out, 0, -1, 10));
    int m;
    T(m = memfd_create("scratch", MFD_CLOEXEC));
    T(write(m, "in memory", 9));
    T(fstat(m, &st));
    printf("memfd size %ld nlink %ld mode %o\n", (long)st.st_size, (long)st.st_nlink, st.st_mode);
    T(fcntl(m, F_GETFD));
    T(memfd_create("x", 0x1000));
    T(flock(out, LOCK_EX | LOCK_NB));
    T(flock(out, LOCK_UN));
    T(flock(out, 77));
    T(flock(99, LOCK_SH));
    struct timeval tv[2] = {{100, 7}, {200, 9}};
    T(utimes("/tmp/copy", tv));
    T(stat("/tmp/copy", &st));
    printf("mtime %ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    T(utimes("/tmp/none", tv));

    /* A copy larger than the Sentry's copy buffer (1 MiB), from a file that grows after it. */
    static char block[65536];
    for (int i = 0; i < (int)sizeof block; i++)
        block[i] = (char)(i * 7 + i / 251);
    int big, copy;
    T(big = open("/tmp/big", O_CREAT | O_RDWR | O_TRUNC, 0644));
    for (int i = 0; i < 48; i++)
        if (write(big, block, sizeof block) != sizeof block)
            return 1;
    T(write(big, block, 123));
    T(lseek(big, 0, SEEK_SET));
    T(copy = open("/tmp/big.copy", O_CREAT | O_RDWR | O_TRUNC, 0644));
    long total = 0;
    ssize_t n;
    while ((n = copy_file_range(big, NULL, copy, NULL, 1 << 30, 0)) > 0)
        total += n;
    T(pwrite(big, block + 9, 5000, 48 * 65536 + 123));
    while ((n = copy_file_range(big, NULL, copy, NULL, 1 << 30, 0)) > 0)
        total += n;
    unsigned long sum = 0;
    unsigned char chunk[4096];
    T(lseek(copy, 0, SEEK_SET));
    while ((n = read(copy, chunk, sizeof chunk)) > 0)
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + chunk[i];
    printf("copied %ld sum %lu\n", total, sum);
    return 0;
}
