/* Random file system calls with junk arguments: the Sentry must answer each with a result or an
 * errno (SENTRIO_STRICT=1 turns any handler crash into a failed run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
static unsigned long long rng = 88172645463325252ULL;
static unsigned long long next(void){ rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static char buf[8192];
static const char *paths[] = {"/tmp/x", "/data/existing", "", "/", "/tmp", "/proc/self/fd/0", "/dev/null", "/data", "..", "/tmp/x/y", "/proc/self/exe", "/tmp/dir"};
int main(int argc, char **argv) {
    int calls[] = {SYS_read, SYS_write, SYS_open, SYS_close, SYS_stat, SYS_fstat, SYS_lstat, SYS_lseek, SYS_pread64, SYS_pwrite64,
      SYS_readv, SYS_writev, SYS_access, SYS_dup, SYS_dup2, SYS_fcntl, SYS_ioctl, SYS_flock, SYS_fsync, SYS_truncate, SYS_ftruncate,
      SYS_getdents64, SYS_getcwd, SYS_chdir, SYS_fchdir, SYS_rename, SYS_mkdir, SYS_rmdir, SYS_creat, SYS_link, SYS_unlink, SYS_symlink,
      SYS_readlink, SYS_chmod, SYS_fchmod, SYS_chown, SYS_fchown, SYS_lchown, SYS_umask, SYS_statfs, SYS_fstatfs, SYS_openat, SYS_mkdirat,
      SYS_fchownat, SYS_newfstatat, SYS_unlinkat, SYS_renameat, SYS_linkat, SYS_symlinkat, SYS_readlinkat, SYS_fchmodat, SYS_faccessat,
      SYS_utimensat, SYS_fallocate, SYS_dup3, SYS_preadv, SYS_pwritev, SYS_renameat2, SYS_statx, SYS_copy_file_range, SYS_preadv2,
      SYS_pwritev2, SYS_openat2, SYS_close_range, SYS_faccessat2, SYS_sendfile, SYS_memfd_create, SYS_mknod, SYS_mknodat, SYS_utimes,
      SYS_futimesat, SYS_epoll_create1, SYS_epoll_ctl, SYS_mmap};
    int ncalls = sizeof calls / sizeof *calls;
    rng += argc > 1 ? atoi(argv[1]) : 0;
    mkdir("/tmp/dir", 0755);
    for (int i = 0; i < 3000; i++) {
        long a[6];
        for (int j = 0; j < 6; j++) {
            switch (next() % 9) {
            case 0: a[j] = (long)paths[next() % (sizeof paths / sizeof *paths)]; break;
            case 1: a[j] = (long)(buf + next() % 4096); break;
            case 2: a[j] = next() % 8; break;
            case 3: a[j] = -(long)(next() % 3) - 1; break;
            case 4: a[j] = next(); break;
            case 5: a[j] = 0; break;
            case 6: a[j] = next() % 5000; break;
            case 7: a[j] = -100; break;
            default: a[j] = 1L << (next() % 40);
            }
        }
        int nr = calls[next() % ncalls];
        if (nr == SYS_mmap) { a[0] = 0; a[3] = (a[3] & 0xfff) & ~0x10; }  /* never MAP_FIXED over ourselves */
        if ((nr == SYS_close || nr == SYS_dup2 || nr == SYS_dup3) && (a[0] == 1 || a[1] == 1 || a[0] == 2)) continue;
        if (nr == SYS_close_range) continue;
        syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    printf("survived\n");
    return 0;
}
